#include "pipes.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "errors.h"
#include "fd_layout.h"

namespace pidvisor {

Napi::Value MakePipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int nonblocking_end = info[0].As<Napi::Number>().Int32Value();
  int fds[2];
  // O_CLOEXEC from the start: another spawn must never inherit the daemon's end.
  if (pipe2(fds, O_CLOEXEC) < 0) throw ErrnoError(env, errno, "pipe2");
  if (nonblocking_end == 0 || nonblocking_end == 1) {
    const int fd = fds[nonblocking_end];
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      const int err = errno;
      close(fds[0]);
      close(fds[1]);
      throw ErrnoError(env, err, "fcntl");
    }
    // The daemon keeps its end for the child's lifetime; the child's end is closed after the
    // spawn and should stay low, inside the short range the next spawn copies.
    fds[nonblocking_end] = MoveAboveFloor(fd);
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // EINTR still closes the fd on Linux: never retry (the number may be reused already).
  if (close(info[0].As<Napi::Number>().Int32Value()) < 0 && errno != EINTR) {
    throw ErrnoError(env, errno, "close");
  }
  return env.Undefined();
}

Napi::Value SetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int size = fcntl(info[0].As<Napi::Number>().Int32Value(), F_SETPIPE_SZ, info[1].As<Napi::Number>().Int32Value());
  if (size < 0) throw ErrnoError(env, errno, "fcntl");
  return Napi::Number::New(env, size);
}

Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) throw ErrnoError(env, errno, "fcntl");
  return Napi::Number::New(env, fd);
}

}  // namespace pidvisor
