#pragma once

#include <napi.h>

namespace pidvisor {

// peerCredentials(socketFd) -> { pid, uid, gid }. The peer as a process is a ProcessHandle
// made with kOpPeer.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info);

}  // namespace pidvisor
