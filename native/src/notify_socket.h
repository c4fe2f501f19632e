// The daemon's end of the sd_notify protocol: a unix datagram socket that hands every
// datagram over with the credentials the kernel vouches for (SCM_CREDENTIALS, and the
// sender's pidfd with SCM_PIDFD where the kernel has it), and the fds it carried
// (SCM_RIGHTS, for MAINPIDFD=1). Primitives only: the protocol is parsed and authenticated in
// daemon/notify/.
#pragma once

#include <napi.h>

namespace pidvisor {

// notifySocketBind(path): a SOCK_DGRAM socket (CLOEXEC, NONBLOCK) bound at `path`, with
// SO_PASSCRED on and SO_PASSPIDFD on where the kernel has it (Linux 6.5). Returns the fd; the
// caller owns it (closeFd), and sets the file's mode. Throws the errno of the failing step.
Napi::Value NotifySocketBind(const Napi::CallbackInfo& info);

// notifyReceive(fd, maxBytes): one datagram, never blocking: null when none is waiting, else
// [bytes (at most maxBytes), truncated, pid, uid, gid, fds (CLOEXEC, the caller owns them),
// senderCgroupId (bigint; 0n when the kernel could not say)]. pid is 0 when the datagram came
// without credentials. The cgroup id is read through the sender's SCM_PIDFD, which names the
// sender even when it has already exited (systemd-notify's race); that pidfd is closed here.
Napi::Value NotifyReceive(const Napi::CallbackInfo& info);

}  // namespace pidvisor
