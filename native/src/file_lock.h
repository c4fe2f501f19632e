#pragma once

#include <napi.h>

namespace pidvisor {

// tryLockExclusive(fd) -> true once this open file holds flock(LOCK_EX), false when another
// open file holds it (EWOULDBLOCK). Never blocks. Other errors throw with errno.
Napi::Value TryLockExclusive(const Napi::CallbackInfo& info);

}  // namespace pidvisor
