// The daemon's end of the channel to pidvisor-keeper (native/keeper/protocol.h): send and
// receive one SOCK_SEQPACKET message with at most one fd, watch the socket in the event loop,
// and exec into the keeper. Primitives only: the
// message layout is encoded and decoded in native/keeper-protocol.ts.
#pragma once

#include <napi.h>

namespace pidvisor {

// channelSend(fd, bytes, fdToPass | -1, wait): one message; without wait it never blocks and
// throws EAGAIN when the socket is full. Throws the errno.
Napi::Value ChannelSend(const Napi::CallbackInfo& info);
// channelReceive(fd): [bytes, fds, truncated] or null when nothing is waiting. Received fds
// are CLOEXEC. An empty message is the end of the stream (the keeper sends none).
Napi::Value ChannelReceive(const Napi::CallbackInfo& info);
// execKeeper(path, argv, env): blocks every signal, then execve; on failure restores the mask
// and throws the errno. Never returns otherwise.
Napi::Value ExecKeeper(const Napi::CallbackInfo& info);
// keeperProtocol(): the numbers of protocol.h, for the test that checks the TS codec.
Napi::Value KeeperProtocol(const Napi::CallbackInfo& info);

// new ChannelWatcher(fd, callback(readable, writable, failed)): a uv_poll on the channel (it
// keeps the event loop alive, as a socket does, until closed). watchWritable(on) adds or removes POLLOUT; close() stops
// it (idempotent; also done at environment teardown).
Napi::Function DefineChannelWatcher(Napi::Env env);

}  // namespace pidvisor
