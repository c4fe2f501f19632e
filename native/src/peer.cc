// Who is on the other end of a unix socket. The peer as a process (SO_PEERPIDFD) is a
// ProcessHandle made with kOpPeer.
#include "peer.h"

#include <errno.h>
#include <sys/socket.h>

#include "errors.h"

namespace pidvisor {

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
  return result;
}

}  // namespace pidvisor
