// spawnAsync: one spawn whose clone runs on a thread of the addon, so the JS thread goes on
// while the child loads its program. CLONE_VFORK suspends the thread that clones until the
// child has exec'd, and on a busy machine that is 0.1-0.25 s per child (the woken parent
// waits for a CPU while the new program's loader runs): a daemon running 100 exec probes a
// second from its JS thread spent most of its time suspended (bench/probes).
#pragma once

#include <napi.h>

namespace pidvisor {

struct EnvState;

// spawnAsync(request, callback): `request` is a RawSpawnArgs array, read on the JS thread as
// the spawning constructor reads it (a malformed one throws here, and nothing is queued).
// Later, on the JS thread, callback(null, child) with a ClonedChildValue for
// `new ProcessHandle(kOpCloned, child)`, or callback(error) with the errno error and `stage` of
// the step that failed (that child is already reaped). Every fd the request names must stay
// open until the callback. A request with a parent-death signal is refused (TypeError): the
// signal follows the thread that clones, which here is not the caller's.
Napi::Value SpawnAsync(const Napi::CallbackInfo& info);

// At environment teardown: callbacks are dropped, and every child cloned for this environment
// that it can no longer take (now or when its clone ends) is killed and reaped.
void CloseAsyncSpawns(EnvState* state);

}  // namespace pidvisor
