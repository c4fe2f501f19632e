// See keeper_channel.h. The keeper's side of the same channel is native/keeper/keeper.c.
#include "keeper_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "../keeper/protocol.h"
#include "errors.h"

namespace pidvisor {

namespace {

// More than any message carries: the extra ones are received (and closed by the caller's
// codec), so that a malformed message cannot leak fds into the daemon.
constexpr int kFdsMax = 8;

}  // namespace

Napi::Value ChannelSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  const int pass = info[2].As<Napi::Number>().Int32Value();
  // The daemon's end is a blocking socket: without MSG_DONTWAIT the send waits for room (for
  // STOPPING, which must reach the keeper before the daemon exits).
  const int flags = MSG_NOSIGNAL | (info[3].ToBoolean().Value() ? 0 : MSG_DONTWAIT);
  struct iovec iov = {bytes.Data(), bytes.ByteLength()};
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr header = {};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  if (pass >= 0) {
    header.msg_control = control.buffer;
    header.msg_controllen = sizeof control.buffer;
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &pass, sizeof pass);
  }
  ssize_t sent;
  do {
    sent = sendmsg(fd, &header, flags);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) throw ErrnoError(env, errno, "sendmsg");
  return env.Undefined();
}

Napi::Value ChannelReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned char message[PVK_MESSAGE_MAX + 1];
  union {
    char buffer[CMSG_SPACE(sizeof(int) * kFdsMax)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {message, sizeof message};
  struct msghdr header = {};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  header.msg_control = control.buffer;
  header.msg_controllen = sizeof control.buffer;
  ssize_t n;
  do {
    n = recvmsg(fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return env.Null();
    throw ErrnoError(env, errno, "recvmsg");
  }
  Napi::Array fds = Napi::Array::New(env);
  uint32_t count = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t in_this = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < in_this; k++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + k * sizeof(int), sizeof received);
      fds.Set(count++, received);
    }
  }
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::Buffer<unsigned char>::Copy(env, message, static_cast<size_t>(n)));
  result.Set(1u, fds);
  result.Set(2u, (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0);
  return result;
}

Napi::Value ExecKeeper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> strings[2];
  std::vector<char*> pointers[2];
  for (int list = 0; list < 2; list++) {
    Napi::Array array = info[1 + list].As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) strings[list].push_back(array.Get(i).As<Napi::String>().Utf8Value());
    for (std::string& s : strings[list]) pointers[list].push_back(s.data());
    pointers[list].push_back(nullptr);
  }
  // Blocked before the exec, so that the keeper starts with every signal blocked: from here to
  // its first statement, nothing is lost or acted on by default. execve keeps the mask.
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  // Node marks its stdio CLOEXEC (and O_NONBLOCK once a stream touched it) and puts it back
  // only at exit: the keeper must get the user's stdio as a shell would pass it.
  int fd_flags[3], status_flags[3];
  for (int fd = 0; fd < 3; fd++) {
    fd_flags[fd] = fcntl(fd, F_GETFD);
    status_flags[fd] = fcntl(fd, F_GETFL);
    if (fd_flags[fd] >= 0) fcntl(fd, F_SETFD, fd_flags[fd] & ~FD_CLOEXEC);
    if (status_flags[fd] >= 0) fcntl(fd, F_SETFL, status_flags[fd] & ~O_NONBLOCK);
  }
  execve(path.c_str(), pointers[0].data(), pointers[1].data());
  const int err = errno;
  for (int fd = 0; fd < 3; fd++) {
    if (fd_flags[fd] >= 0) fcntl(fd, F_SETFD, fd_flags[fd]);
    if (status_flags[fd] >= 0) fcntl(fd, F_SETFL, status_flags[fd]);
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  throw ErrnoError(env, err, "execve");
}

Napi::Value KeeperProtocol(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#define PVK_EXPORT(name) o.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  PVK_EXPORT(PVK_MAGIC);
  PVK_EXPORT(PVK_VERSION);
  PVK_EXPORT(PVK_HEADER_SIZE);
  PVK_EXPORT(PVK_HEADER_MAGIC);
  PVK_EXPORT(PVK_HEADER_VERSION);
  PVK_EXPORT(PVK_HEADER_TYPE);
  PVK_EXPORT(PVK_HEADER_BODY_LENGTH);
  PVK_EXPORT(PVK_DEPOSIT);
  PVK_EXPORT(PVK_WITHDRAW);
  PVK_EXPORT(PVK_READY);
  PVK_EXPORT(PVK_EXIT_ACK);
  PVK_EXPORT(PVK_STOPPING);
  PVK_EXPORT(PVK_REEXEC);
  PVK_EXPORT(PVK_HANDING_OVER);
  PVK_EXPORT(PVK_INVENTORY_ITEM);
  PVK_EXPORT(PVK_EXIT);
  PVK_EXPORT(PVK_INVENTORY_END);
  PVK_EXPORT(PVK_ERROR);
  PVK_EXPORT(PVK_ENTRY_KEY);
  PVK_EXPORT(PVK_ENTRY_KIND);
  PVK_EXPORT(PVK_ENTRY_RESERVED);
  PVK_EXPORT(PVK_ENTRY_RECORD_LENGTH);
  PVK_EXPORT(PVK_ENTRY_RECORD);
  PVK_EXPORT(PVK_RECORD_MAX);
  PVK_EXPORT(PVK_KIND_PIDFD);
  PVK_EXPORT(PVK_KIND_OUTPUT_PIPE);
  PVK_EXPORT(PVK_KIND_LISTENER);
  PVK_EXPORT(PVK_KEY_BODY_SIZE);
  PVK_EXPORT(PVK_EXIT_ID);
  PVK_EXPORT(PVK_EXIT_PID);
  PVK_EXPORT(PVK_EXIT_SI_CODE);
  PVK_EXPORT(PVK_EXIT_SI_STATUS);
  PVK_EXPORT(PVK_EXIT_RESERVED);
  PVK_EXPORT(PVK_EXIT_PIDFS_INODE);
  PVK_EXPORT(PVK_EXIT_UTIME_US);
  PVK_EXPORT(PVK_EXIT_STIME_US);
  PVK_EXPORT(PVK_EXIT_REALTIME_NS);
  PVK_EXPORT(PVK_EXIT_SIZE);
  PVK_EXPORT(PVK_END_ITEMS);
  PVK_EXPORT(PVK_END_EXITS);
  PVK_EXPORT(PVK_END_SIZE);
  PVK_EXPORT(PVK_ERROR_ABOUT_TYPE);
  PVK_EXPORT(PVK_ERROR_RESERVED);
  PVK_EXPORT(PVK_ERROR_ERRNO);
  PVK_EXPORT(PVK_ERROR_KEY);
  PVK_EXPORT(PVK_ERROR_SIZE);
  PVK_EXPORT(PVK_MESSAGE_MAX);
  PVK_EXPORT(PVK_STORE_MAX);
  PVK_EXPORT(PVK_EXITS_MAX);
  PVK_EXPORT(PVK_DAEMON_FD);
#undef PVK_EXPORT
  o.Set("PVK_ENV_FD", Napi::String::New(env, PVK_ENV_FD));
  o.Set("PVK_ENV_INHERITED_SIGNALS", Napi::String::New(env, PVK_ENV_INHERITED_SIGNALS));
  return o;
}

namespace {

class ChannelWatcher : public Napi::ObjectWrap<ChannelWatcher> {
 public:
  explicit ChannelWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChannelWatcher>(info) {
    Napi::Env env = info.Env();
    const int fd = info[0].As<Napi::Number>().Int32Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd);
    if (r != 0) {
      delete poll_;  // never initialised: uv_close must not see it
      poll_ = nullptr;
      throw ErrnoError(env, -r, "uv_poll_init");
    }
    poll_->data = this;
    env_ = env;
    napi_add_env_cleanup_hook(env, OnTeardown, this);
    Start(UV_READABLE);
  }
  ~ChannelWatcher() override { Close(); }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ChannelWatcher",
                       {InstanceMethod<&ChannelWatcher::WatchWritable>("watchWritable"),
                        InstanceMethod<&ChannelWatcher::CloseMethod>("close")});
  }

 private:
  void Start(int events) {
    if (poll_ == nullptr) return;
    int r = uv_poll_start(poll_, events, OnEvent);
    if (r != 0) throw ErrnoError(Env(), -r, "uv_poll_start");
  }
  Napi::Value WatchWritable(const Napi::CallbackInfo& info) {
    Start(info[0].ToBoolean().Value() ? UV_READABLE | UV_WRITABLE : UV_READABLE);
    return info.Env().Undefined();
  }
  Napi::Value CloseMethod(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }
  void Close() {
    if (poll_ == nullptr) return;
    napi_remove_env_cleanup_hook(env_, OnTeardown, this);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
    poll_ = nullptr;
  }
  static void OnTeardown(void* self) { static_cast<ChannelWatcher*>(self)->Close(); }
  static void OnEvent(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<ChannelWatcher*>(poll->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(self->Value(), {Napi::Boolean::New(env, (events & UV_READABLE) != 0),
                                                   Napi::Boolean::New(env, (events & UV_WRITABLE) != 0),
                                                   Napi::Boolean::New(env, status < 0)});
    } catch (const Napi::Error& error) {
      // No JS frame is below a uv callback: hand it to the process as any event-loop
      // callback's uncaught exception (a C++ exception escaping here would abort).
      napi_fatal_exception(env, error.Value());
    }
  }

  Napi::FunctionReference callback_;
  uv_poll_t* poll_ = nullptr;
  napi_env env_ = nullptr;
};

}  // namespace

Napi::Function DefineChannelWatcher(Napi::Env env) { return ChannelWatcher::Define(env); }

}  // namespace pidvisor
