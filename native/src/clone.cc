#include "clone.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscalls.h"

// glibc 2.36 exports no clone3() wrapper, and the raw syscall cannot be made through
// syscall(3): with CLONE_VM the child returns from the syscall on its new, empty stack and
// would `ret` into nothing. This trampoline calls fn(arg) in the child and exits with its
// result, as glibc's internal __clone3 does. Only x86_64 has it; other architectures use
// the legacy clone() path (Linux 5.2), which glibc's clone() wrapper supports everywhere.
#if defined(__x86_64__)
#define PIDVISOR_HAVE_CLONE3_TRAMPOLINE 1
extern "C" long pidvisor_clone3(struct clone_args* args, size_t size, int (*fn)(void*),
                                void* arg);
__asm__(
    ".text\n"
    ".globl pidvisor_clone3\n"
    ".hidden pidvisor_clone3\n"
    ".type pidvisor_clone3,@function\n"
    "pidvisor_clone3:\n"
    "  .cfi_startproc\n"
    "  mov %rdx, %r8\n"  // fn and arg survive the syscall in r8/r9 (it clobbers rcx, r11)
    "  mov %rcx, %r9\n"
    "  mov $435, %eax\n"  // SYS_clone3
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jz 1f\n"
    "  ret\n"  // parent: pid, or -errno
    "1:\n"
    "  .cfi_undefined rip\n"  // child: no caller frame to unwind to
    "  xor %ebp, %ebp\n"
    "  mov %r9, %rdi\n"
    "  call *%r8\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n"  // SYS_exit: fn returned (it normally execs or _exits itself)
    "  syscall\n"
    "  hlt\n"
    "  .cfi_endproc\n"
    ".size pidvisor_clone3, .-pidvisor_clone3\n");
#else
#define PIDVISOR_HAVE_CLONE3_TRAMPOLINE 0
#endif

namespace pidvisor {

namespace {

long CloneVforkWith3(const ChildStack& stack, int cgroup_fd, unsigned long extra_flags,
                     int (*fn)(void*), void* arg, int* pidfd, pid_t* published_pid) {
#if PIDVISOR_HAVE_CLONE3_TRAMPOLINE
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  // CLONE_PARENT_SETTID: kernel_clone() stores the pid before wake_up_new_task().
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_PARENT_SETTID | extra_flags;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.parent_tid = reinterpret_cast<uint64_t>(published_pid);
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack.base);
  args.stack_size = stack.size;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  return pidvisor_clone3(&args, sizeof(args), fn, arg);
#else
  (void)stack, (void)cgroup_fd, (void)extra_flags, (void)fn, (void)arg, (void)pidfd, (void)published_pid;
  return -ENOSYS;
#endif
}

long CloneVforkLegacy(const ChildStack& stack, unsigned long extra_flags, int (*fn)(void*),
                      void* arg, int* pidfd, pid_t* published_pid) {
  // clone(CLONE_PIDFD) returns the pidfd through parent_tid (Linux 5.2), so CLONE_PARENT_SETTID
  // is refused with it (EINVAL). CLONE_CHILD_SETTID publishes the pid instead: the child
  // stores it (in our memory, under CLONE_VM) in schedule_tail(), before its first instruction.
  void* top = static_cast<char*>(stack.base) + stack.size;
  const int flags =
      static_cast<int>(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CHILD_SETTID | extra_flags) | SIGCHLD;
  int pid = clone(fn, top, flags, arg, pidfd, nullptr, published_pid);
  return pid < 0 ? -errno : pid;
}

}  // namespace

long CloneVfork(CloneMethod method, const ChildStack& stack, int cgroup_fd, bool share_fd_table,
                int (*fn)(void*), void* arg, int* pidfd, OwnedChildren::Claim& claim) {
  const unsigned long extra_flags = share_fd_table ? CLONE_FILES : 0;
  // Block every signal around the clone: the child must not run a handler of the parent's on
  // our memory before it has reset the dispositions. It restores the mask before execve.
  // Through the raw syscall with every bit set, as glibc's spawni does: sigfillset and
  // pthread_sigmask leave glibc's internal SIGCANCEL (32) and SIGSETXID (33) unblocked, and
  // their handlers would run in the child on the parent thread's descriptor (a setxid
  // broadcast's counter, a cancellation).
  uint64_t all = ~uint64_t{0};
  uint64_t saved = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &saved, sizeof(all));
  pid_t* published_pid = claim.pid_slot();
  long result = method == CloneMethod::kClone3
                    ? CloneVforkWith3(stack, cgroup_fd, extra_flags, fn, arg, pidfd, published_pid)
                    : CloneVforkLegacy(stack, extra_flags, fn, arg, pidfd, published_pid);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &saved, nullptr, sizeof(saved));
  return result;
}

int ProbeClone3() {
#if PIDVISOR_HAVE_CLONE3_TRAMPOLINE
  // A size below CLONE_ARGS_SIZE_VER0 is EINVAL from a kernel that has clone3; a seccomp
  // filter answers ENOSYS (Docker's default profile) or EPERM (older engines) instead.
  long r = syscall(SYS_clone3, nullptr, 0);
  int err = r < 0 ? errno : 0;
  return err == EINVAL ? 0 : (err != 0 ? err : EINVAL);
#else
  return ENOSYS;
#endif
}

int ProbeFdTableSharing(const ChildStack& stack) {
  // A marker fd at or above kUnshareAlign: the child's private copy will not hold it. The
  // child then closes that number itself. If the unshare really happened the close misses
  // (EBADF) and our marker survives; a sandbox that answers 0 without running the syscall
  // (a seccomp RET_ERRNO of 0, a user-notification supervisor) leaves the table shared, the
  // close lands on our marker, and sharing is refused: a child must never close the
  // daemon's fds.
  const int scratch = eventfd(0, EFD_CLOEXEC);
  if (scratch < 0) return errno;
  const int marker = fcntl(scratch, F_DUPFD_CLOEXEC, kUnshareAlign);
  const int marker_err = errno;
  close(scratch);
  if (marker < 0) return marker_err;
  struct Probe {
    int marker;
    volatile int err;
  } probe = {marker, ENOSYS};
  int pidfd = -1;
  // Until it is reaped below, no orphan reaper of this process may take the probe's child.
  OwnedChildren::Claim claim;
  // The legacy clone exists everywhere; CLONE_FILES means the same to clone and clone3.
  const long pid = CloneVfork(
      CloneMethod::kLegacyClone, stack, -1, true,
      [](void* arg) -> int {
        Probe* p = static_cast<Probe*>(arg);
        const long r = syscall(SYS_close_range, kUnshareAlign, ~0U, CLOSE_RANGE_UNSHARE);
        p->err = r < 0 ? errno : 0;
        if (r == 0) syscall(SYS_close, p->marker);  // raw: glibc's close is a cancellation point
        _exit(0);
      },
      &probe, &pidfd, claim);
  if (pid < 0) {
    close(marker);
    return static_cast<int>(-pid);
  }
  siginfo_t si;
  while (sys_waitid(P_PIDFD, pidfd, &si, WEXITED, nullptr) < 0 && errno == EINTR) {
  }
  close(pidfd);
  if (fcntl(marker, F_GETFD) < 0) return EPERM;  // the "unshare" did not unshare
  close(marker);
  return probe.err;
}

}  // namespace pidvisor
