// pidfs file handles: a way to name a process on disk that survives the death of whoever
// held its pidfd, and that a recycled pid can never match.
//
// name_to_handle_at(pidfd, "", AT_EMPTY_PATH) on pidfs (Linux 6.9 for pidfs, file handles
// 6.13) gives an 8-byte handle: the process's pidfs inode, unique for the boot. After the
// daemon that spawned the process died, open_by_handle_at() on that handle opens a new pidfd
// to the same process; once the process has been reaped it answers ESTALE, whatever pid
// the kernel has handed out since. The mount to resolve against is FD_PIDFS_ROOT (-10002,
// Linux 6.17); before it, any pidfd works as the mount fd (every pidfd lives on the one
// pidfs mount), so our own is used. Needs CAP_DAC_READ_SEARCH, or (6.15) a caller in the
// process's pid namespace hierarchy.
#include "pidfs_handle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

constexpr int kFdPidfsRoot = -10002;
// pidfs handles are 8 bytes (a u64 inode) today; leave room for a kernel that adds a generation.
constexpr unsigned kMaxHandleBytes = 64;

struct HandleBuffer {
  struct file_handle header;
  unsigned char bytes[kMaxHandleBytes];
};

// The pid a pidfd names, as /proc/self/fdinfo says ("Pid:"): -1 once the process has been
// reaped, 0 when it is outside our pid namespace. Reading our own fdinfo cannot race: the
// pidfd pins the process.
int PidOfPidfd(int pidfd) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
  FILE* file = fopen(path, "re");
  if (file == nullptr) return -2;
  char line[256];
  int pid = -2;
  while (fgets(line, sizeof(line), file) != nullptr) {
    if (strncmp(line, "Pid:", 4) == 0) {
      pid = static_cast<int>(strtol(line + 4, nullptr, 10));
      break;
    }
  }
  fclose(file);
  return pid;
}

int OpenByHandle(struct file_handle* handle) {
  int fd = open_by_handle_at(kFdPidfsRoot, handle, O_CLOEXEC);
  if (fd >= 0 || errno != EBADF) return fd;
  // Before Linux 6.17 there is no FD_PIDFS_ROOT: resolve against a pidfd of our own.
  const int self = sys_pidfd_open(getpid(), 0);
  if (self < 0) return -1;
  fd = open_by_handle_at(self, handle, O_CLOEXEC);
  const int err = errno;
  close(self);
  errno = err;
  return fd;
}

}  // namespace

Napi::Value PidfsHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "pidfsHandle(pidfd)");
  const int pidfd = info[0].As<Napi::Number>().Int32Value();
  HandleBuffer buffer = {};
  buffer.header.handle_bytes = kMaxHandleBytes;
  int mount_id = 0;
  if (name_to_handle_at(pidfd, "", &buffer.header, &mount_id, AT_EMPTY_PATH) < 0) {
    throw ErrnoError(env, errno, "name_to_handle_at");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", buffer.header.handle_type);
  result.Set("bytes", Napi::Buffer<unsigned char>::Copy(env, buffer.header.f_handle, buffer.header.handle_bytes));
  return result;
}

Napi::Value OpenPidfsHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "openPidfsHandle(type, bytes)");
  Napi::Buffer<unsigned char> bytes = info[1].As<Napi::Buffer<unsigned char>>();
  if (bytes.Length() == 0 || bytes.Length() > kMaxHandleBytes) {
    throw ErrnoError(env, EINVAL, "open_by_handle_at", "handle size");
  }
  HandleBuffer buffer = {};
  buffer.header.handle_type = info[0].As<Napi::Number>().Int32Value();
  buffer.header.handle_bytes = static_cast<unsigned>(bytes.Length());
  memcpy(buffer.header.f_handle, bytes.Data(), bytes.Length());
  const int pidfd = OpenByHandle(&buffer.header);
  if (pidfd < 0) throw ErrnoError(env, errno, "open_by_handle_at");
  const int pid = PidOfPidfd(pidfd);
  if (pid <= 0) {
    close(pidfd);
    // -1: reaped between the open and the read (same as ESTALE); 0: another pid namespace.
    throw ErrnoError(env, pid == 0 ? EXDEV : ESTALE, "open_by_handle_at", "fdinfo pid");
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, pidfd);
  result.Set(1u, pid);
  return result;
}

}  // namespace pidvisor
