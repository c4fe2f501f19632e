#pragma once

#include <napi.h>

namespace pidvisor {

// probeKernel() -> { [feature]: { ok, code } }: each feature tested by its real syscall.
Napi::Value ProbeKernel(const Napi::CallbackInfo& info);

}  // namespace pidvisor
