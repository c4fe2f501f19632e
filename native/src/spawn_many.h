#pragma once

#include <napi.h>

namespace pidvisor {

// spawnMany(requests) -> array, in input order, of the cloned child (ClonedChildValue, for
// `new ProcessHandle(kOpCloned, child)`) or the error (with `stage`) of that entry. Each
// entry, a RawSpawnArgs array, is handled as the spawning constructor would handle it; the
// clones run concurrently on the calling thread and up to three helper threads
// (spawn_many.cc), and the call returns once every child has exec'd or failed (failed
// children already reaped).
Napi::Value SpawnMany(const Napi::CallbackInfo& info);

}  // namespace pidvisor
