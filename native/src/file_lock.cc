// flock(2) for the daemon's state-dir lock: Node has no flock. The lock belongs to the open
// file description, so the kernel drops it when the last fd on it closes, also when the
// holder is SIGKILLed: a crashed daemon never blocks the next one. The fd is close-on-exec
// (Node opens files with O_CLOEXEC) and spawned children close every inherited fd, so no
// service keeps the lock alive after the daemon is gone.
#include "file_lock.h"

#include <errno.h>
#include <sys/file.h>

#include "errors.h"

namespace pidvisor {

Napi::Value TryLockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  throw ErrnoError(env, errno, "flock");
}

}  // namespace pidvisor
