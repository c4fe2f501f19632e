// Reaping orphans (as PID 1, or as a child subreaper) without ever stealing a child that
// somebody in this process is waiting for.
//
// Two owners wait for specific children here: our ProcessHandles (waitid(P_PIDFD)), in any
// Node environment of this process (OwnedChildren), and libuv's child_process (waitpid(pid)
// on SIGCHLD, only for pids it spawned). If we reaped one of theirs, libuv's handle would wait
// forever, and once the pid was reused by a child of ours libuv would reap *our* child and
// report the wrong status (reproduced, DESIGN.md §2). Only this environment's libuv loop can
// be read safely: the child_process children of a worker thread are not protected.
// So we peek with WNOWAIT, and reap only a zombie nobody owns, through a pidfd opened on it and
// confirmed to name a zombie: a pid reaped by its owner since the peek and reused by a new
// child cannot be taken by mistake (the pidfd of the old zombie reaps nothing). The peek
// returns the first zombie in the kernel's children list, so an owned zombie hides the ones
// behind it: we stop and report it; its owner reaps it in this same loop iteration and the
// caller sweeps again. No lock is held against clones: every clone publishes its child's pid
// before the child runs (owned_children.h), so a zombie's owner is known by the time we see it.
#include "orphans.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env_state.h"
#include "errors.h"
#include "owned_children.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

// A sweep is bounded so a fork bomb of orphans cannot starve the event loop.
constexpr int kMaxReapsPerSweep = 4096;

// The cgroup v2 id of an unreaped zombie, so the caller can tell which service it belonged
// to (PIDFD_GET_INFO, Linux 6.13; 0 when unknown).
uint64_t CgroupIdOfZombie(int pidfd) {
  pidvisor_pidfd_info info = {};
  info.mask = PIDVISOR_PIDFD_INFO_CGROUPID;
  if (ioctl(pidfd, PIDVISOR_PIDFD_GET_INFO, &info) == 0 && (info.mask & PIDVISOR_PIDFD_INFO_CGROUPID)) {
    return info.cgroupid;
  }
  return 0;
}

// An fd that closes itself: every path out of one sweep step closes the zombie's pidfd.
class PidfdCloser {
 public:
  explicit PidfdCloser(int fd) : fd_(fd) {}
  ~PidfdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  PidfdCloser(const PidfdCloser&) = delete;
  PidfdCloser& operator=(const PidfdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

Napi::Value ReapOrphans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  Napi::Array reaped = Napi::Array::New(env);
  Napi::Object result = Napi::Object::New(env);
  pid_t blocked_by = 0;
  const char* blocked_owner = "";
  for (int n = 0; n < kMaxReapsPerSweep; n++) {
    siginfo_t peek = {};
    if (sys_waitid(P_ALL, 0, &peek, WEXITED | WNOHANG | WNOWAIT, nullptr) < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) break;  // no children at all
      throw ErrnoError(env, errno, "waitid");
    }
    const pid_t pid = peek.si_pid;
    if (pid == 0) break;  // children, but no zombie
    // Its owner may reap it, and the pid be reused, at any moment from the peek on: hold the
    // process itself, and go on only if it is still our zombie.
    const int pidfd = sys_pidfd_open(pid, 0);
    if (pidfd < 0) {
      if (errno == ESRCH) continue;  // reaped by its owner since the peek
      throw ErrnoError(env, errno, "pidfd_open");
    }
    PidfdCloser closer(pidfd);
    siginfo_t held = {};
    const int confirmed = sys_waitid(P_PIDFD, pidfd, &held, WEXITED | WNOHANG | WNOWAIT, nullptr);
    if (confirmed < 0 && errno != EINTR && errno != ECHILD) throw ErrnoError(env, errno, "waitid");
    // ECHILD or no zombie: the pid names another process now, not a zombie of ours. Sweep on.
    if (confirmed < 0 || held.si_pid == 0) continue;
    // Asked only now, with the zombie held: had it been cloned here, its pid was published
    // (claim or record) before it ran, so before this. Its inode tells a watcher's process
    // from an unrelated one that got the pid since.
    struct stat st;
    const uint64_t inode = fstat(pidfd, &st) == 0 ? st.st_ino : 0;
    if (OwnedChildren::IsOwned(pid, inode)) {
      blocked_by = pid;
      blocked_owner = "pidvisor";
      break;
    }
    if (state->LibuvOwnsChild(pid)) {
      blocked_by = pid;
      blocked_owner = "libuv";
      break;
    }
    const uint64_t cgroup_id = CgroupIdOfZombie(pidfd);
    siginfo_t si = {};
    const int reaped_now = sys_waitid(P_PIDFD, pidfd, &si, WEXITED | WNOHANG, nullptr);
    if (reaped_now < 0 && errno != EINTR && errno != ECHILD) throw ErrnoError(env, errno, "waitid");
    // ECHILD: its owner reaped it since the confirmation (a worker thread's libuv reaps its
    // child_process children unasked). The pidfd names that zombie only, never a successor.
    if (reaped_now < 0 || si.si_pid == 0) continue;
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("pid", pid);
    entry.Set("siCode", si.si_code);
    entry.Set("siStatus", si.si_status);
    entry.Set("cgroupId", Napi::BigInt::New(env, cgroup_id));
    reaped.Set(reaped.Length(), entry);
  }
  result.Set("reaped", reaped);
  result.Set("blockedBy", blocked_by);
  result.Set("blockedOwner", blocked_owner);
  return result;
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  const unsigned long on = info[0].ToBoolean().Value() ? 1 : 0;
  if (prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) < 0) {
    throw ErrnoError(info.Env(), errno, "prctl", "PR_SET_CHILD_SUBREAPER");
  }
  return info.Env().Undefined();
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  const int signal = info[0].As<Napi::Number>().Int32Value();
  if (prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) < 0) {
    throw ErrnoError(info.Env(), errno, "prctl", "PR_SET_PDEATHSIG");
  }
  return info.Env().Undefined();
}

// SIG_IGN rather than a JS listener: a listener makes the kernel's job control send SIGTTOU
// again at every retry of a write to a terminal we are in the background of (with TOSTOP),
// a busy loop; an ignored one lets the write through, as tini does. Only for signals that
// have no listener: libuv would otherwise find its handler replaced.
Napi::Value IgnoreSignal(const Napi::CallbackInfo& info) {
  const int signal = info[0].As<Napi::Number>().Int32Value();
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(signal, &ignore, nullptr) < 0) throw ErrnoError(info.Env(), errno, "sigaction");
  return info.Env().Undefined();
}

Napi::Value GetChildSubreaper(const Napi::CallbackInfo& info) {
  int on = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) < 0) {
    throw ErrnoError(info.Env(), errno, "prctl", "PR_GET_CHILD_SUBREAPER");
  }
  return Napi::Boolean::New(info.Env(), on != 0);
}

}  // namespace pidvisor
