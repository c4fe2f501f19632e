#pragma once

#include <napi.h>

namespace pidvisor {

// openProcess(pid) -> ProcessHandle through pidfd_open(2); the caller checks its identity.
Napi::Value OpenProcess(const Napi::CallbackInfo& info);
// peerCredentials(socketFd) -> { pid, uid, gid, handle: ProcessHandle | null }
Napi::Value PeerCredentials(const Napi::CallbackInfo& info);

}  // namespace pidvisor
