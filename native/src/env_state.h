// Per-Node-environment state of the addon (main thread and each worker have their own),
// kept with SetInstanceData so nothing is global. The one exception is the record of owned
// children (owned_children.h): children belong to the process, not to an environment.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstddef>

#include "clone.h"
#include "exit_poller.h"
#include "handle_table.h"

namespace pidvisor {

class AsyncSpawns;
class ProcessHandle;

struct EnvState {
  explicit EnvState(Napi::Env env);
  ~EnvState();
  EnvState(const EnvState&) = delete;
  EnvState& operator=(const EnvState&) = delete;

  static EnvState* Get(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

  // The stack the pre-exec child runs on. One per environment is enough: spawn is
  // synchronous and CLONE_VFORK suspends the calling thread until the child execs or exits.
  // Returns false (errno set) when mmap fails.
  bool SpawnStack(ChildStack* stack);

  // Highest fd + 1 the child closes one by one where close_range(2) is missing (before
  // Linux 5.9): the soft RLIMIT_NOFILE, capped, read once (the daemon raises it at start-up).
  int CloseFallbackLimit();

  // libuv's child_process waits for this pid (it is on loop->process_handles): only libuv
  // may reap it, or its exit event would never fire (DESIGN.md §2).
  bool LibuvOwnsChild(pid_t pid) const;

  uv_loop_t* loop = nullptr;
  ExitPoller exit_poller;  // every watched pidfd of this environment
  Napi::FunctionReference exit_handler;  // see ProcessHandle::SetExitHandler
  // Every ProcessHandle of this environment, shut down at its teardown. Which pids are owned
  // (and by whom) is process-wide: OwnedChildren.
  HandleTable handles;
  // Decided once by the capability probe (clone3 with an invalid size: EINVAL means the
  // syscall exists; ENOSYS or EPERM means a seccomp filter, e.g. Docker's default, blocks it).
  int clone3_state = -1;  // -1 unknown, 0 unavailable, 1 available
  // Whether a spawn child may share our fd table and unshare part of it (ProbeFdTableSharing),
  // decided at the first spawn.
  int fd_table_sharing_state = -1;  // -1 unknown, 0 no, 1 yes
  // spawnAsync's callbacks and wake-up handle, made at its first call (spawn_async.cc).
  AsyncSpawns* async_spawns = nullptr;

 private:
  int close_fallback_limit_ = -1;
  void* stack_base_ = nullptr;
  size_t stack_size_ = 0;
};

}  // namespace pidvisor
