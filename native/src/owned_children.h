// The children that pidvisor code in this process waits for, across every Node environment.
//
// Everything else in the addon is per environment (EnvState), but children are not: the main
// thread and each worker thread have their own environment, while waitid(P_ALL) in any thread
// sees the children of all of them. An orphan reaper that asked only its own environment would
// reap a child a worker spawned and is about to wait for; the worker would then learn the exit
// without its rusage (PIDFD_GET_INFO, Linux 6.15) or not at all.
//
// The record is only useful if no zombie can be seen before its pid is in it. So every clone of
// the addon (spawns and capability probes alike) runs under a Claim: the kernel itself stores
// the new child's pid into the claim before the child can run (CLONE_PARENT_SETTID for clone3,
// CLONE_CHILD_SETTID for the legacy clone), and the claim stays visible to IsOwned until the
// pid is recorded (Claim::Record) or the failed child is reaped (the claim's end). A zombie has
// run, so its pid is in a claim or a record by the time anyone can peek at it, and no clone has
// to hold a lock across the vfork: one thread's slow exec (a hung NFS cwd, a big binary) never
// stalls another thread's orphan sweep.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <atomic>

namespace pidvisor {

class OwnedChildren {
 public:
  // Two kinds of owner wait for a pid. A spawned child (recorded by its clone, Claim::Record) is
  // reaped only by its own handle. A watcher (a handle opened by pid, while it watches) reaps
  // the process only if it is, or becomes, a child of ours that nobody spawned (see
  // ProcessHandle::MayReap); either way the orphan reaper must leave its exit alone.
  //
  // One record per owner: a pid may be recorded twice for a moment (a worker's new child got
  // the pid of one reaped here, whose record is not yet dropped), or held by a spawned and an
  // opened handle. Each Remove drops one record.
  static void RemoveSpawned(pid_t pid);
  // `inode` names the watched process itself (pidfs, Linux 6.9; 0 when unknown): a watcher of a
  // process that someone else reaped keeps its record until it notices (a retry timer, up to
  // 1 s), and by then the pid may name an unrelated orphan of ours.
  static void AddWatcher(pid_t pid, uint64_t inode);
  static void RemoveWatcher(pid_t pid, uint64_t inode);
  // Whether anybody here waits for the process that holds `pid` now, whose pidfs inode is
  // `inode` (0: unknown): a clone in flight, a spawned child, or a watcher of that very process.
  // Before pidfs every pidfd has the same inode, so a watcher then counts for any process
  // with its pid.
  static bool IsOwned(pid_t pid, uint64_t inode);
  // Whether a child spawned by pidvisor, in any environment of this process, holds this pid.
  static bool IsSpawned(pid_t pid);

  // A clone in flight; see the file comment. Not movable: it is registered by address.
  class Claim {
   public:
    Claim();
    ~Claim();
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;

    // Where the kernel stores the child's pid (parent_tid or child_tid of the clone).
    pid_t* pid_slot() { return reinterpret_cast<pid_t*>(&pid_); }
    // The child exec'd: record it as spawned and end the claim, in one step for IsOwned.
    void Record(pid_t pid);

   private:
    friend class OwnedChildren;
    std::atomic<pid_t> pid_{0};
    bool registered_ = false;
  };
  static_assert(sizeof(std::atomic<pid_t>) == sizeof(pid_t) && std::atomic<pid_t>::is_always_lock_free,
                "the kernel writes the claimed pid as a plain pid_t");
};

}  // namespace pidvisor
