// spawn(request): the JS-facing half of spawning one child. SpawnRequest (spawn_request.h)
// owns the plan and turns the child's report into a ProcessHandle or a typed error; this
// file runs the one clone on the JS thread.
#include "spawn.h"

#include <errno.h>
#include <sys/prctl.h>

#include "env_state.h"
#include "errors.h"
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

  bool ok = false;
  Napi::Value outcome = request.Outcome(env, &ok);
  if (!ok) throw Napi::Error(env, outcome);
  return outcome;
}

}  // namespace pidvisor
