#pragma once

#include <napi.h>

namespace pidvisor {

// stopWatchingFd(fd): removes `fd` from the epoll set of this environment's libuv loop
// (epoll_ctl EPOLL_CTL_DEL on uv_backend_fd), leaving the fd and libuv's handle as they are.
//
// Why: a daemon handing over to the next one (reexec) must stop accepting connections on its
// listening sockets while the keeper keeps a copy of each, so that new clients wait in the
// backlog for the next daemon. Node has no way to stop accepting short of closing the server,
// and closing a unix socket server bound by libuv unlinks its path (uv__pipe_close), which
// would send every client after it ENOENT. With the fd out of the epoll set, libuv is never
// woken for it again: connections stay queued. Only for a process about to exit: libuv still
// believes it watches the fd (a later uv_close would try EPOLL_CTL_DEL again; ENOENT there is
// ignored by libuv).
Napi::Value StopWatchingFd(const Napi::CallbackInfo& info);

}  // namespace pidvisor
