// Handles for processes we did not spawn: adopted ones, and the peer of a unix socket.
#include "open.h"

#include <errno.h>
#include <sys/socket.h>

#include "errors.h"
#include "process_handle.h"
#include "syscalls.h"

namespace pidvisor {

Napi::Value OpenProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  const int pidfd = sys_pidfd_open(pid, 0);  // O_CLOEXEC is implied
  if (pidfd < 0) throw ErrnoError(env, errno, "pidfd_open");
  return ProcessHandle::Create(env, pidfd, pid, ProcessHandle::Origin::kOpened);
}

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    throw ErrnoError(env, errno, "getsockopt", "SO_PEERCRED");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", cred.pid);
  result.Set("uid", cred.uid);
  result.Set("gid", cred.gid);
  // SO_PEERPIDFD (Linux 6.5) names the peer process itself, immune to pid reuse; older
  // kernels answer ENOPROTOOPT and the caller keeps only the numbers.
  int pidfd = -1;
  len = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0) {
    result.Set("handle", ProcessHandle::Create(env, pidfd, cred.pid, ProcessHandle::Origin::kPeer));
  } else {
    result.Set("handle", env.Null());
  }
  return result;
}

}  // namespace pidvisor
