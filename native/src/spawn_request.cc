// Reading a spawn request into a SpawnPlan, cloning it, and turning the child's report into a
// ClonedChild or a typed error; no ProcessHandle here, so the clone code does not depend on
// how children are held. Policy (PATH search, stdio kinds, defaults) lives in TypeScript;
// this file only marshals and reports.
#include "spawn_request.h"

#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "dumpable.h"
#include "env_state.h"
#include "errors.h"
#include "owned_children.h"
#include "spawn.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

std::vector<int> IntArray(Napi::Array array) {
  std::vector<int> values(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) values[i] = array.Get(i).As<Napi::Number>().Int32Value();
  return values;
}

long LongField(const RequestFields& fields, RequestField field) {
  return static_cast<long>(fields[field].As<Napi::Number>().Int64Value());
}

// A signal set as a BigInt, bit n-1 for signal n (native/spawn.ts checks the range).
uint64_t SignalSetField(const RequestFields& fields, RequestField field) {
  bool lossless = true;
  return fields[field].As<Napi::BigInt>().Uint64Value(&lossless);
}

// rlimits arrive as flat triples [resource, soft, hard]; -1 means unlimited.
std::vector<RlimitSpec> ReadRlimits(Napi::Array flat) {
  std::vector<RlimitSpec> limits;
  for (uint32_t i = 0; i + 2 < flat.Length(); i += 3) {
    auto value = [&](uint32_t k) {
      const double v = flat.Get(k).As<Napi::Number>().DoubleValue();
      return v < 0 ? RLIM_INFINITY : static_cast<unsigned long long>(v);
    };
    limits.push_back({flat.Get(i).As<Napi::Number>().Int32Value(), value(i + 1), value(i + 2)});
  }
  return limits;
}

CloneMethod ChooseMethod(EnvState* state, int requested) {
  if (requested == kMethodClone3) return CloneMethod::kClone3;
  if (requested == kMethodLegacyClone) return CloneMethod::kLegacyClone;
  if (state->clone3_state < 0) state->clone3_state = ProbeClone3() == 0 ? 1 : 0;
  return state->clone3_state == 1 ? CloneMethod::kClone3 : CloneMethod::kLegacyClone;
}

// The fds a child of this plan can name: its sources, the legacy path's cgroup directory,
// and fd 0 (the terminal for foreground_tty). The child keeps a copy of [0, this) only,
// rounded up to kUnshareAlign (see clone.h); the extra fds are closed with the rest.
int FdsNeededBelow(const std::vector<int>& sources, int cgroup_procs_dir_fd) {
  int highest = std::max(0, cgroup_procs_dir_fd);
  for (int fd : sources) highest = std::max(highest, fd);
  return (highest / kUnshareAlign + 1) * kUnshareAlign;
}

// How long KillAndReap waits for a SIGKILLed child to die (see spawn_request.h).
constexpr int kReapAfterKillMs = 250;

// The child failed before or at execve and has exited (CLONE_VFORK returned only then).
// Reap it here so a failed spawn leaves no zombie and no fd behind.
void ReapFailedChild(int pidfd) {
  siginfo_t si;
  while (sys_waitid(P_PIDFD, pidfd, &si, WEXITED, nullptr) < 0 && errno == EINTR) {
  }
  close(pidfd);
}

}  // namespace

CStringArray::CStringArray(Napi::Array array) {
  const uint32_t n = array.IsEmpty() ? 0 : array.Length();
  strings_.reserve(n);
  for (uint32_t i = 0; i < n; i++) strings_.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  pointers_.reserve(n + 1);
  for (std::string& s : strings_) pointers_.push_back(&s[0]);
  pointers_.push_back(nullptr);
}

CStringArray::CStringArray(Napi::String entries) : entries_(entries.Utf8Value()) {
  // Each entry already ends with its NUL; the last one, if the caller left it off, with the
  // std::string's own.
  size_t start = 0;
  for (size_t i = 0; i < entries_.size(); i++) {
    if (entries_[i] != '\0') continue;
    pointers_.push_back(&entries_[start]);
    start = i + 1;
  }
  if (start < entries_.size()) pointers_.push_back(&entries_[start]);
  pointers_.push_back(nullptr);
}

SpawnRequest::SpawnRequest(Napi::Env env, EnvState* state, const RequestFields& fields)
    : exec_paths_(fields[kExecPaths].As<Napi::Array>()),
      argv_(fields[kArgv].As<Napi::Array>()),
      // Always the caller's array, built from process.env on the calling thread when the
      // caller gave none: the child never reads `environ`, which another thread may be
      // changing (setenv frees the array it replaces) and which is not a worker's process.env.
      envp_(fields[kEnvp].As<Napi::String>()),
      rlimits_(ReadRlimits(fields[kRlimits].As<Napi::Array>())),
      fds_(IntArray(fields[kFds].As<Napi::Array>())),
      cgroup_fd_(static_cast<int>(LongField(fields, kCgroupFd))),
      method_(ChooseMethod(state, static_cast<int>(LongField(fields, kMethod)))) {
  const Napi::Value cwd_value = fields[kCwd];
  if (cwd_value.IsString()) cwd_ = cwd_value.As<Napi::String>().Utf8Value();
  const Napi::Value groups_value = fields[kGroups];
  if (groups_value.IsArray()) {
    for (int gid : IntArray(groups_value.As<Napi::Array>())) groups_.push_back(static_cast<gid_t>(gid));
  }

  if (exec_paths_.size() == 0) throw Napi::TypeError::New(env, "spawn: no executable path");
  if (fds_.size() > static_cast<size_t>(kMaxPlanFds)) {
    throw Napi::RangeError::New(env, "spawn: too many fds in the plan");
  }

  plan_.exec_paths = exec_paths_.data();
  plan_.exec_path_count = exec_paths_.size();
  plan_.argv = argv_.data();
  plan_.envp = envp_.data();
  plan_.cwd = cwd_value.IsString() ? cwd_.c_str() : nullptr;
  plan_.uid = LongField(fields, kUid);
  plan_.gid = LongField(fields, kGid);
  plan_.groups = groups_.data();
  plan_.group_count = groups_value.IsArray() ? static_cast<long>(groups_.size()) : -1;
  plan_.umask = LongField(fields, kUmask);
  plan_.rlimits = rlimits_.data();
  plan_.rlimit_count = rlimits_.size();
  plan_.session = static_cast<int>(LongField(fields, kSession));
  plan_.foreground_tty = fields[kForegroundTty].ToBoolean().Value();
  plan_.fd_sources = fds_.data();
  plan_.fd_count = static_cast<int>(fds_.size());
  // CLONE_INTO_CGROUP exists only for clone3; the legacy path joins from inside the child.
  plan_.cgroup_procs_dir_fd = method_ == CloneMethod::kLegacyClone ? cgroup_fd_ : -1;
  plan_.pdeathsig = static_cast<int>(LongField(fields, kPdeathsig));
  plan_.parent_pid = plan_.pdeathsig > 0 ? getpid() : 0;
  plan_.no_new_privs = fields[kNoNewPrivs].ToBoolean().Value();
  plan_.ignored_signals = SignalSetField(fields, kIgnoredSignals);
  plan_.blocked_signals = SignalSetField(fields, kBlockedSignals);
  plan_.close_fallback_limit = state->CloseFallbackLimit();
}

bool KillAndReap(int pidfd) {
  if (sys_pidfd_send_signal(pidfd, SIGKILL, 0) < 0 && errno != ESRCH) return false;
  struct pollfd exited = {pidfd, POLLIN, 0};
  int ready;
  while ((ready = poll(&exited, 1, kReapAfterKillMs)) < 0 && errno == EINTR) {
  }
  if (ready <= 0) return false;
  siginfo_t si = {};
  while (sys_waitid(P_PIDFD, pidfd, &si, WEXITED | WNOHANG, nullptr) < 0 && errno == EINTR) {
  }
  return si.si_pid != 0;
}

void DiscardChild(int pidfd, pid_t pid) {
  KillAndReap(pidfd);
  close(pidfd);
  // Reaped, or left to the orphan reaper: nobody here will wait for it any more.
  OwnedChildren::RemoveSpawned(pid);
}

SpawnRequest::~SpawnRequest() {
  if (pidfd_ >= 0) DiscardChild(pidfd_, static_cast<pid_t>(pid_));
}

void SpawnRequest::DecideFdTableSharing(EnvState* state, const ChildStack& stack) {
  if (state->fd_table_sharing_state < 0) {
    state->fd_table_sharing_state = ProbeFdTableSharing(stack) == 0 ? 1 : 0;
  }
  share_fd_table_ = state->fd_table_sharing_state == 1;
  plan_.unshare_fds_below = share_fd_table_ ? FdsNeededBelow(fds_, plan_.cgroup_procs_dir_fd) : 0;
}

void SpawnRequest::Clone(const ChildStack& stack) {
  // Until the child is recorded as ours, or reaped after a failed exec, the claim tells every
  // orphan reaper of this process (another thread's, say) that this pid is taken.
  OwnedChildren::Claim claim;
  DumpableGuard dumpable(ChangesCredentials());
  pid_ = CloneVfork(method_, stack, method_ == CloneMethod::kClone3 ? cgroup_fd_ : -1,
                    share_fd_table_, RunSpawnChild, &plan_, &pidfd_, claim);
  if (pid_ < 0) return;
  if (plan_.failed_stage != kStageNone) {
    ReapFailedChild(pidfd_);
    pidfd_ = -1;
    return;
  }
  claim.Record(static_cast<pid_t>(pid_));
}

ClonedChild SpawnRequest::TakeChild() {
  const ClonedChild child = {pidfd_, static_cast<pid_t>(pid_), method_ == CloneMethod::kClone3};
  pidfd_ = -1;
  return child;
}

Napi::Error SpawnRequest::Failure(Napi::Env env) const {
  if (pid_ < 0) {
    const char* clone_name = method_ == CloneMethod::kClone3 ? "clone3" : "clone";
    return ErrnoError(env, static_cast<int>(-pid_), clone_name, clone_name);
  }
  return ErrnoError(env, plan_.failed_errno, SpawnSyscallName(plan_.failed_syscall),
                    SpawnStageName(plan_.failed_stage));
}

}  // namespace pidvisor
