// Raw Linux syscalls and UAPI constants that glibc 2.36 does not wrap or define.
//
// We call the kernel directly (syscall(2)) rather than through glibc wrappers so that the
// addon builds on older glibc and so the code in the pre-exec child never enters a glibc
// wrapper that takes locks or broadcasts to other threads (glibc's setuid() does that).
#pragma once

#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424  // Linux 5.1
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // Linux 5.3
#endif
#ifndef SYS_clone3
#define SYS_clone3 435  // Linux 5.3
#endif
#ifndef SYS_close_range
#define SYS_close_range 436  // Linux 5.9
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)  // Linux 5.9
#endif

#ifndef P_PIDFD
#define P_PIDFD 3  // waitid idtype, Linux 5.4
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000  // Linux 5.2
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL  // Linux 5.7
#endif
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1U << 2)  // Linux 6.9
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5
#endif
#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446  // statfs f_type of pidfs, Linux 6.9
#endif

// struct pidfd_info and PIDFD_GET_INFO (Linux 6.13; the exit fields since 6.15). Defined
// here because glibc 2.36's <linux/pidfd.h> predates it. The kernel accepts any size from
// VER0 (64 bytes) up and copies back min(ours, its own), so the 80-byte layout is safe.
struct pidvisor_pidfd_info {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t coredump_signal;
  uint64_t supported_mask;
};
static_assert(sizeof(pidvisor_pidfd_info) == 80, "pidfd_info VER2 is 80 bytes");
#define PIDVISOR_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidvisor_pidfd_info)
#define PIDVISOR_PIDFD_INFO_PID (1ULL << 0)
#define PIDVISOR_PIDFD_INFO_CGROUPID (1ULL << 2)
#define PIDVISOR_PIDFD_INFO_EXIT (1ULL << 3)

// The kernel's own struct sigaction for rt_sigaction(2); glibc's is larger and differs.
struct pidvisor_kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

namespace pidvisor {

inline int sys_pidfd_open(pid_t pid, unsigned flags) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, flags));
}

inline int sys_pidfd_send_signal(int pidfd, int sig, unsigned flags) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, flags));
}

// waitid(2) through the raw syscall: glibc's wrapper has no rusage argument.
inline int sys_waitid(int idtype, int id, siginfo_t* info, int options, struct rusage* usage) {
  return static_cast<int>(syscall(SYS_waitid, idtype, id, info, options, usage));
}

}  // namespace pidvisor
