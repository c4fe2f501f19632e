#include "loop_watch.h"

#include <errno.h>
#include <sys/epoll.h>
#include <uv.h>

#include "errors.h"

namespace pidvisor {

Napi::Value StopWatchingFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw ErrnoError(env, EINVAL, "napi_get_uv_event_loop");
  // On Linux libuv's backend is one epoll instance (io_uring serves only file operations).
  const int backend = uv_backend_fd(loop);
  if (backend < 0) throw ErrnoError(env, EBADF, "uv_backend_fd");
  if (epoll_ctl(backend, EPOLL_CTL_DEL, fd, nullptr) < 0) throw ErrnoError(env, errno, "epoll_ctl");
  return env.Undefined();
}

}  // namespace pidvisor
