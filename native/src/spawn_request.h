// One child to start, read from a JS spawn request: every byte the pre-exec child reads is
// owned here, in the parent, for as long as the clone runs. The ProcessHandle constructor
// makes one of these (spawn.cc); spawnMany() makes one per entry and clones them on several
// threads (spawn_many.cc).
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <array>
#include <string>
#include <vector>

#include "clone.h"
#include "spawn_child.h"

namespace pidvisor {

struct EnvState;

// A child that has exec'd: the caller owns its pidfd (O_CLOEXEC).
struct ClonedChild {
  int pidfd;
  pid_t pid;
  bool clone3;  // false: the legacy clone(CLONE_PIDFD) made it
};

// SIGKILL through the pidfd of our child, then its reap, waiting at most 250 ms for it to die
// (poll on the pidfd). SIGKILL cannot be caught, but a child in uninterruptible sleep (a hung
// NFS server, a stuck device) dies only when that sleep ends, and a large one takes a while to
// tear its memory down: the JS thread (or the GC finalizer) that calls this must not hang with
// it. Returns whether it was reaped; if not, the caller drops its record, so the child, killed
// but unreaped, becomes a zombie the orphan reaper takes (or, with no reaper running, one that
// lasts until this process exits).
bool KillAndReap(int pidfd);

// For a cloned child nobody will hold: KillAndReap, a close, and its record in OwnedChildren
// dropped, so no process outlives a failed spawn.
void DiscardChild(int pidfd, pid_t pid);

// A RawSpawnRequest's fields in the order of RawSpawnArgs (native/binding.d.ts): the
// constructor's arguments after the op, or one entry of spawnMany's list. By position, not by
// name: napi_get_named_property makes a string from the C name and looks it up in V8's string
// table on every call, and its 16 calls per spawn were a third of the spawn call's time
// outside the clone.
enum RequestField : size_t {
  kExecPaths, kArgv, kEnvp, kCwd, kUid, kGid, kGroups, kUmask, kRlimits, kSession,
  kForegroundTty, kFds, kCgroupFd, kPdeathsig, kNoNewPrivs, kMethod, kIgnoredSignals, kBlockedSignals,
  kRequestFieldCount,
};
using RequestFields = std::array<Napi::Value, kRequestFieldCount>;

// Strings and the NULL-terminated pointer array execve wants.
class CStringArray {
 public:
  // An empty Napi::Array (no value) stands for none.
  explicit CStringArray(Napi::Array array);
  // Entries each ended by a NUL, in one string ("" for none): the environment, a few dozen
  // entries on every spawn, costs one conversion instead of three Node-API calls per entry.
  explicit CStringArray(Napi::String entries);
  CStringArray(const CStringArray&) = delete;
  CStringArray& operator=(const CStringArray&) = delete;
  char* const* data() const { return pointers_.data(); }
  size_t size() const { return pointers_.size() - 1; }

 private:
  std::vector<std::string> strings_;
  std::string entries_;
  std::vector<char*> pointers_;
};

class SpawnRequest {
 public:
  // Reads the request (throws a JS error when it is malformed) and picks the clone method,
  // probing clone3 on first use. Runs on the JS thread.
  SpawnRequest(Napi::Env env, EnvState* state, const RequestFields& fields);
  // The plan points into the members: neither copyable nor movable.
  SpawnRequest(const SpawnRequest&) = delete;
  SpawnRequest& operator=(const SpawnRequest&) = delete;
  // A child cloned but never taken (an exception between Clone and TakeChild) is discarded.
  ~SpawnRequest();

  // Lets the child share our fd table and keep a private copy of the part it needs, when
  // the probe (run once, on the calling thread, with `stack`) found that safe.
  void DecideFdTableSharing(EnvState* state, const ChildStack& stack);

  // A child switching credentials under CLONE_VM marks our shared memory map non-dumpable
  // (dumpable.h).
  bool ChangesCredentials() const {
    return plan_.uid >= 0 || plan_.gid >= 0 || plan_.group_count >= 0;
  }
  bool HasParentDeathSignal() const { return plan_.pdeathsig > 0; }

  // Clones and waits for the exec (CLONE_VFORK). A child that failed before or at execve is
  // reaped here. Only syscalls: safe on any thread, once per request.
  void Clone(const ChildStack& stack);

  // After Clone: whether the child runs (exec'd). Then TakeChild hands over its pidfd once;
  // otherwise Failure describes what failed, with `stage` (the child is already reaped).
  bool Started() const { return pid_ >= 0 && plan_.failed_stage == kStageNone; }
  ClonedChild TakeChild();
  Napi::Error Failure(Napi::Env env) const;

 private:
  CStringArray exec_paths_;
  CStringArray argv_;
  CStringArray envp_;
  std::string cwd_;
  std::vector<gid_t> groups_;
  std::vector<RlimitSpec> rlimits_;
  std::vector<int> fds_;
  int cgroup_fd_;
  CloneMethod method_;
  bool share_fd_table_ = false;
  SpawnPlan plan_ = {};

  long pid_ = 0;  // or -errno of the clone itself
  int pidfd_ = -1;
};

}  // namespace pidvisor
