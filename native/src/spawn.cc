// spawn(request): the JS-facing half of spawning one child. SpawnRequest (spawn_request.h)
// owns the plan and reads the child's report; this file runs the one clone on the JS thread
// and wraps the child in a ProcessHandle.
#include "spawn.h"

#include <errno.h>
#include <sys/prctl.h>

#include "env_state.h"
#include "errors.h"
#include "process_handle.h"
#include "spawn_request.h"

namespace pidvisor {

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  SpawnRequest request(env, state, info[0].As<Napi::Object>());

  ChildStack stack;
  if (!state->SpawnStack(&stack)) throw ErrnoError(env, errno, "mmap", "stack");
  request.DecideFdTableSharing(state, stack);

  // A child switching credentials under CLONE_VM runs commit_creds on the memory map it
  // shares with us, which marks that map non-dumpable: the daemon itself would lose core
  // dumps and ptrace access. Remember the flag and restore it.
  const int dumpable = request.ChangesCredentials() ? prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) : -1;
  request.Clone(stack);
  if (dumpable > 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable) {
    prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  }

  if (!request.Started()) throw request.Failure(env);
  return SpawnResult(env, request.TakeChild());
}

Napi::Object SpawnResult(Napi::Env env, const ClonedChild& child) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("handle", ProcessHandle::Create(env, child.pidfd, child.pid, ProcessHandle::Origin::kSpawned));
  result.Set("method", child.clone3 ? "clone3" : "clone");
  return result;
}

}  // namespace pidvisor
