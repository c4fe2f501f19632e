// See notify_socket.h.
#include "notify_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "syscalls.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76  // Linux 6.5
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04  // Linux 6.5
#endif

namespace pidvisor {

namespace {

// More than the protocol uses (MAINPIDFD=1 passes one; FDSTORE is not supported): the rest
// are received and closed by the caller, so that no sender can leak fds into the daemon.
constexpr int kFdsMax = 16;

uint64_t CgroupIdOf(int pidfd) {
  pidvisor_pidfd_info info = {};
  info.mask = PIDVISOR_PIDFD_INFO_CGROUPID;
  // Answers for an exited (even reaped) process too: the pidfd pins its struct pid.
  if (ioctl(pidfd, PIDVISOR_PIDFD_GET_INFO, &info) == 0 && (info.mask & PIDVISOR_PIDFD_INFO_CGROUPID)) return info.cgroupid;
  return 0;
}

}  // namespace

Napi::Value NotifySocketBind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) throw ErrnoError(env, ENAMETOOLONG, "bind");
  memcpy(address.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  const int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) {
    const int err = errno;
    close(fd);
    throw ErrnoError(env, err, "setsockopt(SO_PASSCRED)");
  }
  // Before 6.5 there is no SCM_PIDFD: the sender is then checked through /proc by its pid,
  // which fails for a sender that has already exited.
  if (setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on) < 0 && errno != ENOPROTOOPT && errno != EINVAL) {
    const int err = errno;
    close(fd);
    throw ErrnoError(env, err, "setsockopt(SO_PASSPIDFD)");
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof address) < 0) {
    const int err = errno;
    close(fd);
    throw ErrnoError(env, err, "bind");
  }
  return Napi::Number::New(env, fd);
}

Napi::Value NotifyReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const size_t max_bytes = info[1].As<Napi::Number>().Uint32Value();
  std::vector<unsigned char> message(max_bytes + 1);
  union {
    char buffer[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * kFdsMax) + CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {message.data(), message.size()};
  struct msghdr header = {};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  header.msg_control = control.buffer;
  header.msg_controllen = sizeof control.buffer;
  ssize_t n;
  do {
    n = recvmsg(fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return env.Null();
    throw ErrnoError(env, errno, "recvmsg");
  }
  struct ucred credentials = {};
  int sender_pidfd = -1;
  Napi::Array fds = Napi::Array::New(env);
  uint32_t count = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof credentials)) {
      memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
    } else if (c->cmsg_type == SCM_PIDFD && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      memcpy(&sender_pidfd, CMSG_DATA(c), sizeof sender_pidfd);
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const size_t in_this = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < in_this; k++) {
        int received;
        memcpy(&received, CMSG_DATA(c) + k * sizeof(int), sizeof received);
        fds.Set(count++, received);
      }
    }
  }
  uint64_t cgroup_id = 0;
  if (sender_pidfd >= 0) {
    cgroup_id = CgroupIdOf(sender_pidfd);
    close(sender_pidfd);
  }
  // With MSG_TRUNC, n is the datagram's real length even when it did not fit.
  const bool truncated = static_cast<size_t>(n) > max_bytes || (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  const size_t kept = static_cast<size_t>(n) > max_bytes ? max_bytes : static_cast<size_t>(n);
  Napi::Array result = Napi::Array::New(env, 7);
  result.Set(0u, Napi::Buffer<unsigned char>::Copy(env, message.data(), kept));
  result.Set(1u, truncated);
  result.Set(2u, Napi::Number::New(env, credentials.pid));
  result.Set(3u, Napi::Number::New(env, credentials.uid));
  result.Set(4u, Napi::Number::New(env, credentials.gid));
  result.Set(5u, fds);
  result.Set(6u, Napi::BigInt::New(env, cgroup_id));
  return result;
}

}  // namespace pidvisor
