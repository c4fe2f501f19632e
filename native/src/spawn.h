#pragma once

#include <napi.h>
#include <sys/types.h>

namespace pidvisor {

// request.method: which clone to use. Auto takes clone3 when the probe found it callable.
enum SpawnMethod : int { kMethodAuto = 0, kMethodClone3 = 1, kMethodLegacyClone = 2 };

struct SpawnedChild {
  int pidfd;  // owned by the caller
  pid_t pid;
  bool clone3;  // false: the legacy clone(CLONE_PIDFD) made it
};

// Starts the child a JS request describes (info[first...], in the order of RawSpawnArgs in
// native/binding.d.ts) and returns once its execve has passed the point of
// no return. Throws an errno error with `stage` when the child could not be set up or exec'd
// (it has been reaped then). Called by the ProcessHandle constructor: new ChildProcess() is
// the whole spawn, with no intermediate object.
SpawnedChild SpawnChild(const Napi::CallbackInfo& info, size_t first);

}  // namespace pidvisor
