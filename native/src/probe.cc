// The capability probe: each feature is tested by making the real syscall once (as Go's
// checkPidfd does), never inferred from the kernel version. The TS layer caches the answer.
#include "probe.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone.h"
#include "env_state.h"
#include "errors.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

class Report {
 public:
  explicit Report(Napi::Env env) : env_(env), object_(Napi::Object::New(env)) {}
  // err == 0: supported; otherwise the errno the kernel answered.
  void Add(const char* feature, int err) {
    Napi::Object entry = Napi::Object::New(env_);
    entry.Set("ok", err == 0);
    entry.Set("code", err == 0 ? env_.Null() : Napi::String::New(env_, ErrnoName(err)));
    object_.Set(feature, entry);
  }
  Napi::Object object() const { return object_; }

 private:
  Napi::Env env_;
  Napi::Object object_;
};

int ErrnoOf(long result) { return result < 0 ? errno : 0; }

// PIDFD_INFO_EXIT (Linux 6.15) can only be seen on a reaped process: make one, reap it
// while holding its pidfd, and ask.
int ProbePidfdInfoExit(EnvState* state) {
  ChildStack stack;
  if (!state->SpawnStack(&stack)) return errno;
  int pidfd = -1;
  const CloneMethod method =
      state->clone3_state == 1 ? CloneMethod::kClone3 : CloneMethod::kLegacyClone;
  // Until it is reaped below, no orphan reaper of this process (another thread's) may take the
  // probe's child: its pidfd would then never carry an exit to ask about.
  OwnedChildren::Claim claim;
  long pid = CloneVfork(method, stack, -1, false,
                        [](void*) -> int { _exit(0); }, nullptr, &pidfd, claim);
  if (pid < 0) return static_cast<int>(-pid);
  siginfo_t si;
  while (sys_waitid(P_PIDFD, pidfd, &si, WEXITED, nullptr) < 0 && errno == EINTR) {
  }
  pidvisor_pidfd_info info = {};
  info.mask = PIDVISOR_PIDFD_INFO_EXIT;
  int err = ErrnoOf(ioctl(pidfd, PIDVISOR_PIDFD_GET_INFO, &info));
  if (err == 0 && !(info.mask & PIDVISOR_PIDFD_INFO_EXIT)) err = EOPNOTSUPP;
  close(pidfd);
  return err;
}

int ProbeSoPeerPidfd() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return errno;
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  const int err = ErrnoOf(getsockopt(pair[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len));
  if (err == 0) close(pidfd);
  close(pair[0]);
  close(pair[1]);
  return err;
}

}  // namespace

Napi::Value ProbeKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  Report report(env);

  const int self = sys_pidfd_open(getpid(), 0);
  report.Add("pidfdOpen", ErrnoOf(self));
  if (self >= 0) {
    siginfo_t si = {};
    // We are not our own child: a kernel with P_PIDFD answers ECHILD, an older one EINVAL.
    const int wait_err = ErrnoOf(sys_waitid(P_PIDFD, self, &si, WEXITED | WNOHANG, nullptr));
    report.Add("waitidPidfd", wait_err == ECHILD ? 0 : (wait_err == 0 ? EINVAL : wait_err));
    report.Add("pidfdSendSignal", ErrnoOf(sys_pidfd_send_signal(self, 0, 0)));
    // The flag signals the group whose id is this pid: we are rarely a group leader, so
    // ESRCH means the flag is known (Linux 6.9); an older kernel answers EINVAL.
    const int group_err = ErrnoOf(sys_pidfd_send_signal(self, 0, PIDFD_SIGNAL_PROCESS_GROUP));
    report.Add("pidfdSignalProcessGroup", group_err == ESRCH ? 0 : group_err);
    struct statfs fs = {};
    int pidfs_err = ErrnoOf(fstatfs(self, &fs));
    if (pidfs_err == 0 && fs.f_type != PIDFS_MAGIC) pidfs_err = EOPNOTSUPP;
    report.Add("pidfs", pidfs_err);
    pidvisor_pidfd_info pinfo = {};
    pinfo.mask = PIDVISOR_PIDFD_INFO_PID;
    report.Add("pidfdGetInfo", ErrnoOf(ioctl(self, PIDVISOR_PIDFD_GET_INFO, &pinfo)));
    close(self);
  }

  if (state->clone3_state < 0) state->clone3_state = ProbeClone3() == 0 ? 1 : 0;
  report.Add("clone3", ProbeClone3());
  report.Add("pidfdInfoExit", ProbePidfdInfoExit(state));
  // Closing the range [~0U, ~0U] closes nothing and succeeds where close_range exists.
  report.Add("closeRange", ErrnoOf(syscall(SYS_close_range, ~0U, ~0U, 0)));
  report.Add("soPeerPidfd", ProbeSoPeerPidfd());
  ChildStack stack;
  const int sharing = state->SpawnStack(&stack) ? ProbeFdTableSharing(stack) : errno;
  state->fd_table_sharing_state = sharing == 0 ? 1 : 0;
  report.Add("cloneFilesUnshare", sharing);
  int subreaper = 0;
  report.Add("childSubreaper", ErrnoOf(prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0)));
  return report.object();
}

}  // namespace pidvisor
