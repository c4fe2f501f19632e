#pragma once

#include <napi.h>

namespace pidvisor {

// pidfsHandle(pidfd) -> { type, bytes }: the pidfs file handle of the process behind a pidfd
// (name_to_handle_at). Stored on disk, it names that process and no other for the boot.
Napi::Value PidfsHandle(const Napi::CallbackInfo& info);

// openPidfsHandle(type, bytes) -> [pidfd, pid]: a new pidfd to the process a stored handle
// names (open_by_handle_at), and its pid in our namespace as the kernel reports it.
Napi::Value OpenPidfsHandle(const Napi::CallbackInfo& info);

}  // namespace pidvisor
