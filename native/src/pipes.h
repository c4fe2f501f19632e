#pragma once

#include <napi.h>

namespace pidvisor {

// makePipe(nonblockingEnd: 0 | 1 | -1) -> [readFd, writeFd], both close-on-exec. The end
// the daemon keeps is made O_NONBLOCK for the event loop; the child's end stays blocking.
Napi::Value MakePipe(const Napi::CallbackInfo& info);

// closeFd(fd): close(2) of a pipe end makePipe made. Closed here, not with fs.closeSync: in a
// worker thread Node tracks the fds fs opened and warns ("File descriptor N closed but not
// opened in unmanaged mode") for every other one fs closes.
Napi::Value CloseFd(const Napi::CallbackInfo& info);

// setPipeSize(fd, bytes) -> the pipe's new capacity (fcntl F_SETPIPE_SZ, Linux 2.6.35; the
// kernel rounds up to a power-of-two number of pages). EPERM past /proc/sys/fs/pipe-max-size
// for an unprivileged caller, or past the user's pipe-user-pages-soft total.
Napi::Value SetPipeSize(const Napi::CallbackInfo& info);

// dupFd(fd) -> a new fd (F_DUPFD_CLOEXEC) on the same open file. For what /proc/self/fd/N
// cannot open again, such as a socket (ENXIO): the keeper deposit of a listening socket.
Napi::Value DupFd(const Napi::CallbackInfo& info);

}  // namespace pidvisor
