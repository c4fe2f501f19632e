// The JS-facing half of spawning. SpawnRequest (spawn_request.h) owns the plan and reads the
// child's report; this file runs the one clone of spawn() on the JS thread, and carries the
// children spawnMany cloned over to the ProcessHandle constructor.
#include "spawn.h"

#include <errno.h>

#include "env_state.h"
#include "errors.h"

namespace pidvisor {

namespace {

// Marks the externals ClonedChildValue makes: a pidfd is taken over from nothing else.
constexpr napi_type_tag kClonedChildTag = {0x7069647669736f72ULL, 0x636c6f6e65644368ULL};

}  // namespace

ClonedChild SpawnChild(const Napi::CallbackInfo& info, size_t first) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  if (info.Length() < first + kRequestFieldCount) throw Napi::TypeError::New(env, "spawn: incomplete request");
  RequestFields fields;
  for (size_t i = 0; i < kRequestFieldCount; i++) fields[i] = info[first + i];
  SpawnRequest request(env, state, fields);

  ChildStack stack;
  if (!state->SpawnStack(&stack)) throw ErrnoError(env, errno, "mmap", "stack");
  request.DecideFdTableSharing(state, stack);
  request.Clone(stack);
  if (!request.Started()) throw request.Failure(env);
  return request.TakeChild();
}

Napi::Value ClonedChildValue(Napi::Env env, const ClonedChild& child) {
  Napi::External<ClonedChild> value = Napi::External<ClonedChild>::New(
      env, new ClonedChild(child), [](Napi::Env, ClonedChild* held) {
        if (held->pidfd >= 0) DiscardChild(held->pidfd, held->pid);
        delete held;
      });
  value.TypeTag(&kClonedChildTag);
  return value;
}

ClonedChild TakeClonedChild(Napi::Env env, Napi::Value value) {
  if (!value.IsExternal() || !value.As<Napi::External<ClonedChild>>().CheckTypeTag(&kClonedChildTag)) {
    throw Napi::TypeError::New(env, "not a child cloned by spawnMany");
  }
  ClonedChild* held = value.As<Napi::External<ClonedChild>>().Data();
  if (held->pidfd < 0) throw Napi::TypeError::New(env, "this child has been taken already");
  const ClonedChild child = *held;
  held->pidfd = -1;
  return child;
}

}  // namespace pidvisor
