// The code a new child runs between clone and execve.
//
// Rules for everything in this file (the child shares the parent's memory under CLONE_VM and
// the parent is a multithreaded Node process whose other threads keep running):
//   - async-signal-safe only: raw syscalls, no malloc, no stdio, no C++ exceptions, no JS;
//   - no glibc wrapper that takes a lock or talks to other threads (setuid/setgid/setgroups in
//     glibc broadcast to every thread of the process they think they are in: use the raw
//     syscalls, as glibc's own posix_spawn does);
//   - no glibc cancellation point (close, openat, write): the child runs on the parent
//     thread's descriptor (TLS), so such a wrapper would read and update that thread's cancel
//     state, and act on a pending cancellation in the child. Use syscall(2), which is not one;
//   - every failure records (stage, syscall, errno) in the plan and ends in _exit(127); the parent
//     reads the record, reaps us, and reports a typed error, so "command not found" never
//     looks like "exited with status 127";
//   - errno is the parent thread's TLS slot (shared under CLONE_VM): read it at once.
#include "spawn_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syscalls.h"

namespace pidvisor {

namespace {

const char* const kStageNames[kStageCount] = {
    "none",   "cgroup",    "session", "fds",     "chdir",     "rlimit",
    "setgroups", "setgid", "setuid",  "no_new_privs", "pdeathsig", "execve",
};

const char* const kSyscallNames[kSyscallCount] = {
    "none",
    "close_range(CLOSE_RANGE_UNSHARE)",
    "openat",
    "write",
    "setsid",
    "setpgid",
    "ioctl(TIOCSPGRP)",
    "fcntl(F_DUPFD_CLOEXEC)",
    "fcntl(F_SETFD)",
    "dup2",
    "chdir",
    "prlimit64",
    "setgroups",
    "setresgid",
    "setresuid",
    "prctl(PR_SET_NO_NEW_PRIVS)",
    "prctl(PR_SET_PDEATHSIG)",
    "execve",
};

[[noreturn]] void Fail(SpawnPlan* plan, SpawnStage stage, SpawnSyscall call, int err) {
  plan->failed_errno = err;
  plan->failed_syscall = call;
  plan->failed_stage = stage;
  _exit(127);
}

// Under CLONE_FILES the child shares the daemon's fd table: before it opens, dups or closes
// anything, it takes a private table holding only the fds its plan can name (all below
// unshare_fds_below) and none of the thousands of pidfds above them. exec then finds the
// table already private and does not copy it again (unshare_files in begin_new_exec).
void TakePrivateFdTable(SpawnPlan* plan) {
  if (plan->unshare_fds_below <= 0) return;
  if (syscall(SYS_close_range, plan->unshare_fds_below, ~0U, CLOSE_RANGE_UNSHARE) < 0) {
    Fail(plan, kStageFds, kSyscallUnshareFds, errno);
  }
}

// Node ignores SIGPIPE and SIGXFSZ and installs handlers for others; ignored dispositions
// survive execve, so a child would not behave as one started by a shell. Reset them all,
// except the ones the caller asks to start ignored (init passes on what it inherited, as
// tini does). The mask stays fully blocked (inherited from the parent) until just before
// execve, where it becomes the caller's.
void ResetSignalDispositions(const SpawnPlan* plan) {
  pidvisor_kernel_sigaction dfl = {};
  dfl.handler = SIG_DFL;
  pidvisor_kernel_sigaction ign = {};
  ign.handler = SIG_IGN;
  for (int sig = 1; sig < _NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    const bool ignored = (plan->ignored_signals >> (sig - 1)) & 1;
    syscall(SYS_rt_sigaction, sig, ignored ? &ign : &dfl, nullptr, sizeof(dfl.mask));
  }
}

// The legacy clone() path has no CLONE_INTO_CGROUP: the child moves itself ("0" means the
// writer) before it runs any of the command's code.
void JoinCgroup(SpawnPlan* plan) {
  if (plan->cgroup_procs_dir_fd < 0) return;
  const int fd = static_cast<int>(
      syscall(SYS_openat, plan->cgroup_procs_dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
  if (fd < 0) Fail(plan, kStageCgroup, kSyscallOpenat, errno);
  if (syscall(SYS_write, fd, "0", 1) != 1) Fail(plan, kStageCgroup, kSyscallWrite, errno);
  syscall(SYS_close, fd);
}

void SetSession(SpawnPlan* plan) {
  if (plan->session == kSessionSetsid && setsid() < 0) Fail(plan, kStageSession, kSyscallSetsid, errno);
  if (plan->session == kSessionSetpgid && setpgid(0, 0) < 0) {
    Fail(plan, kStageSession, kSyscallSetpgid, errno);
  }
}

// Install fd_sources[i] as fd i. Two passes, as Go's forkAndExecInChild does: first move
// every source that lies inside the target range [0, n) out of it (a dup2 onto a lower
// target could otherwise close a source a later target still needs), then dup2 each into
// place. dup2 leaves the new fd without FD_CLOEXEC; a source already at its target only needs
// the flag cleared. The relocated copies are close-on-exec and above n, so they vanish.
void InstallFds(SpawnPlan* plan) {
  const int n = plan->fd_count;
  int sources[kMaxPlanFds];
  for (int i = 0; i < n; i++) {
    int src = plan->fd_sources[i];
    if (src >= 0 && src < n && src != i) {
      src = fcntl(src, F_DUPFD_CLOEXEC, n);
      if (src < 0) Fail(plan, kStageFds, kSyscallDupfd, errno);
    }
    sources[i] = src;
  }
  for (int i = 0; i < n; i++) {
    const int src = sources[i];
    if (src < 0) {
      syscall(SYS_close, i);
    } else if (src == i) {
      if (fcntl(i, F_SETFD, 0) < 0) Fail(plan, kStageFds, kSyscallSetfd, errno);
    } else if (dup2(src, i) < 0) {
      Fail(plan, kStageFds, kSyscallDup2, errno);
    }
  }
  // A child expects blocking stdio; libuv makes the fds it owns O_NONBLOCK.
  for (int i = 0; i < 3 && i < n; i++) {
    const int flags = fcntl(i, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(i, F_SETFL, flags & ~O_NONBLOCK);
  }
  // Close what the plan does not name, including fds the daemon inherited without
  // FD_CLOEXEC. close_range(2) is Linux 5.9; before that, close one by one.
  if (syscall(SYS_close_range, n, ~0U, 0) < 0) {
    for (int fd = n; fd < plan->close_fallback_limit; fd++) syscall(SYS_close, fd);
  }
}

// As tini does for an interactive container: the new group takes the terminal, or its first
// read would stop it with SIGTTIN. The terminal is the child's own fd 0, so this comes once
// the planned fds are installed (before, fd 0 was the daemon's). SIGTTOU is still blocked
// here, so the call from a background group succeeds. No terminal on fd 0 (ENOTTY: not a
// terminal, or not the session's controlling one) and no fd 0 (EBADF) are not errors.
void TakeTerminal(SpawnPlan* plan) {
  if (!plan->foreground_tty || plan->session != kSessionSetpgid) return;
  pid_t group = getpid();
  if (ioctl(0, TIOCSPGRP, &group) < 0 && errno != ENOTTY && errno != EBADF) {
    Fail(plan, kStageSession, kSyscallTiocspgrp, errno);
  }
}

// Rlimits before the credentials change: raising a hard limit needs the privilege.
void ApplyProcessAttributes(SpawnPlan* plan) {
  if (plan->umask >= 0) umask(static_cast<mode_t>(plan->umask));
  for (size_t i = 0; i < plan->rlimit_count; i++) {
    struct rlimit64 limit = {plan->rlimits[i].soft, plan->rlimits[i].hard};
    if (syscall(SYS_prlimit64, 0, plan->rlimits[i].resource, &limit, nullptr) < 0) {
      Fail(plan, kStageRlimit, kSyscallPrlimit, errno);
    }
  }
}

void ApplyCredentials(SpawnPlan* plan) {
  if (plan->group_count >= 0 &&
      syscall(SYS_setgroups, plan->group_count, plan->groups) < 0) {
    Fail(plan, kStageSetgroups, kSyscallSetgroups, errno);
  }
  if (plan->gid >= 0 && syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0) {
    Fail(plan, kStageSetgid, kSyscallSetresgid, errno);
  }
  if (plan->uid >= 0 && syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0) {
    Fail(plan, kStageSetuid, kSyscallSetresuid, errno);
  }
}

// After the credentials, as Go's forkAndExecInChild and systemd's exec_child do: the directory
// is entered with the rights of the user the program runs as, so a child started as `nobody`
// cannot begin life inside a directory `nobody` may not enter (EACCES).
void ChangeDirectory(SpawnPlan* plan) {
  if (plan->cwd != nullptr && chdir(plan->cwd) < 0) Fail(plan, kStageChdir, kSyscallChdir, errno);
}

void ApplySecurityBits(SpawnPlan* plan) {
  if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    Fail(plan, kStageNoNewPrivs, kSyscallNoNewPrivs, errno);
  }
  if (plan->pdeathsig > 0) {
    if (prctl(PR_SET_PDEATHSIG, plan->pdeathsig, 0, 0, 0) < 0) {
      Fail(plan, kStagePdeathsig, kSyscallPdeathsig, errno);
    }
    // The parent may have died before the prctl took effect: then nobody will send it.
    if (getppid() != plan->parent_pid) kill(getpid(), plan->pdeathsig);
  }
}

// Tries each candidate like execvp(3): skip the ones that do not exist, remember EACCES.
[[noreturn]] void Exec(SpawnPlan* plan) {
  // The kernel's sigset is the 64-bit word the plan holds (rt_sigprocmask with size 8).
  const uint64_t mask = plan->blocked_signals;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof(mask));
  int result = ENOENT;
  bool saw_eacces = false;
  for (size_t i = 0; i < plan->exec_path_count; i++) {
    execve(plan->exec_paths[i], plan->argv, plan->envp);
    result = errno;
    if (result == EACCES) {
      saw_eacces = true;
    } else if (result != ENOENT && result != ENOTDIR && result != ESTALE) {
      break;
    }
  }
  if (saw_eacces && (result == ENOENT || result == ENOTDIR || result == ESTALE)) result = EACCES;
  Fail(plan, kStageExecve, kSyscallExecve, result);
}

}  // namespace

const char* SpawnStageName(int stage) {
  return stage >= 0 && stage < kStageCount ? kStageNames[stage] : "unknown";
}

const char* SpawnSyscallName(int call) {
  return call >= 0 && call < kSyscallCount ? kSyscallNames[call] : "unknown";
}

// The order, once the fd table is the child's own: identity of the process (cgroup, session)
// first, then its fd table and terminal, then attributes that need privilege (rlimits), then
// the credentials, then what must be done with the new credentials (the working directory),
// then the bits that constrain the new program.
int RunSpawnChild(void* arg) {
  SpawnPlan* plan = static_cast<SpawnPlan*>(arg);
  TakePrivateFdTable(plan);
  ResetSignalDispositions(plan);
  JoinCgroup(plan);
  SetSession(plan);
  InstallFds(plan);
  TakeTerminal(plan);
  ApplyProcessAttributes(plan);
  ApplyCredentials(plan);
  ChangeDirectory(plan);
  ApplySecurityBits(plan);
  Exec(plan);
}

}  // namespace pidvisor
