// The two ways a spawned ProcessHandle gets its child (process_handle.cc): cloned by its own
// constructor (spawn), or cloned before, in a batch, and handed over (spawnMany).
#pragma once

#include <napi.h>

#include "spawn_request.h"

namespace pidvisor {

// request.method: which clone to use. Auto takes clone3 when the probe found it callable.
enum SpawnMethod : int { kMethodAuto = 0, kMethodClone3 = 1, kMethodLegacyClone = 2 };

// Starts the child a JS request describes (info[first...], in the order of RawSpawnArgs in
// native/binding.d.ts) and returns once its execve has passed the point of no return. Throws
// an errno error with `stage` when the child could not be set up or exec'd (it has been
// reaped then). Called by the ProcessHandle constructor: new ChildProcess() is the whole
// spawn, with no intermediate object.
ClonedChild SpawnChild(const Napi::CallbackInfo& info, size_t first);

// A child spawnMany cloned, as the value its result slot holds until
// `new ProcessHandle(kOpCloned, value)` takes it (TakeClonedChild). A value never taken
// (the JS side failed first) kills and reaps its child when it is collected.
Napi::Value ClonedChildValue(Napi::Env env, const ClonedChild& child);

// The child a ClonedChildValue holds, once; throws a TypeError for any other value and for
// one already taken.
ClonedChild TakeClonedChild(Napi::Env env, Napi::Value value);

}  // namespace pidvisor
