#pragma once

#include <napi.h>

namespace pidvisor {

// request.method: which clone to use. Auto takes clone3 when the probe found it callable.
enum SpawnMethod : int { kMethodAuto = 0, kMethodClone3 = 1, kMethodLegacyClone = 2 };

// spawn(request) -> { handle: ProcessHandle, method: "clone3" | "clone" }; throws an
// errno error with `stage` when the child could not be set up or exec'd (already reaped).
Napi::Value Spawn(const Napi::CallbackInfo& info);

struct ClonedChild;
// { handle, method } for a child that has exec'd; the handle takes over its pidfd.
Napi::Object SpawnResult(Napi::Env env, const ClonedChild& child);

}  // namespace pidvisor
