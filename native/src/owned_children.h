// The children that pidvisor code in this process waits for, across every Node environment.
//
// Everything else in the addon is per environment (EnvState), but children are not: the main
// thread and each worker thread have their own environment, while waitid(P_ALL) in any thread
// sees the children of all of them. An orphan reaper that asked only its own environment would
// reap a child a worker spawned and is about to wait for; the worker would then learn the exit
// without its rusage (PIDFD_GET_INFO, Linux 6.15) or not at all.
//
// The record is only useful if no zombie can be seen before its pid is in it. So a clone holds
// the CloneGate (shared: clones on several threads do not wait for each other) until the new
// child's pid is recorded, or until a child that failed to exec is reaped; a reaper holds the
// ReapGate (exclusive) from its peek at a zombie to its reap.
#pragma once

#include <sys/types.h>

#include <mutex>  // IWYU pragma: keep (std::unique_lock)
#include <shared_mutex>

namespace pidvisor {

class OwnedChildren {
 public:
  // One record per owner: a pid may be recorded twice for a moment (a worker's new child got
  // the pid of one reaped here, whose record is not yet dropped), or held by a spawned and an
  // opened handle. Remove drops one record.
  static void Add(pid_t pid);
  static void Remove(pid_t pid);
  static bool Contains(pid_t pid);

  class CloneGate {
   public:
    CloneGate() : lock_(Gate()) {}

   private:
    std::shared_lock<std::shared_mutex> lock_;
  };

  class ReapGate {
   public:
    ReapGate() : lock_(Gate()) {}

   private:
    std::unique_lock<std::shared_mutex> lock_;
  };

 private:
  static std::shared_mutex& Gate();
};

}  // namespace pidvisor
