#pragma once

#include <napi.h>

namespace pidvisor {

// getResourceLimit(resource) -> [soft, hard]; -1 is unlimited.
Napi::Value GetResourceLimit(const Napi::CallbackInfo& info);
// setResourceLimit(resource, soft, hard); -1 is unlimited. For the daemon itself.
Napi::Value SetResourceLimit(const Napi::CallbackInfo& info);

}  // namespace pidvisor
