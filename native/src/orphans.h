#pragma once

#include <napi.h>

namespace pidvisor {

// reapOrphans() -> { reaped: [{pid, siCode, siStatus, cgroupId}], blockedBy: pid | 0, blockedOwner }
Napi::Value ReapOrphans(const Napi::CallbackInfo& info);
// setChildSubreaper(on: boolean); getChildSubreaper() -> boolean
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info);
Napi::Value GetChildSubreaper(const Napi::CallbackInfo& info);
// setParentDeathSignal(signal): this process gets `signal` when its parent dies (0 clears).
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info);
// ignoreSignal(signal): set its disposition to SIG_IGN (init ignores SIGTTIN and SIGTTOU).
Napi::Value IgnoreSignal(const Napi::CallbackInfo& info);

}  // namespace pidvisor
