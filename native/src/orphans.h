#pragma once

#include <napi.h>

namespace pidvisor {

// reapOrphans() -> { reaped: [{pid, siCode, siStatus}], blockedBy: pid | 0, blockedOwner }
Napi::Value ReapOrphans(const Napi::CallbackInfo& info);
// setChildSubreaper(on: boolean); getChildSubreaper() -> boolean
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info);
Napi::Value GetChildSubreaper(const Napi::CallbackInfo& info);

}  // namespace pidvisor
