// The JS-facing half of spawning. Reads the request into a SpawnPlan (all memory the child
// needs is owned here, in the parent), clones, and turns the child's report into either a
// SpawnedChild or a typed error. Policy (PATH search, stdio kinds,
// defaults) lives in TypeScript; this file only marshals and reports.
#include "spawn.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <algorithm>
#include <string>
#include <vector>

#include "clone.h"
#include "env_state.h"
#include "errors.h"
#include "spawn_child.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

// Strings and the NULL-terminated pointer arrays execve wants, kept alive by the parent
// for the duration of the clone.
class CStringArray {
 public:
  // An empty Napi::Array (no value) stands for none.
  explicit CStringArray(Napi::Array array) {
    const uint32_t n = array.IsEmpty() ? 0 : array.Length();
    strings_.reserve(n);
    for (uint32_t i = 0; i < n; i++) strings_.push_back(array.Get(i).As<Napi::String>().Utf8Value());
    pointers_.reserve(n + 1);
    for (std::string& s : strings_) pointers_.push_back(&s[0]);
    pointers_.push_back(nullptr);
  }
  char* const* data() const { return pointers_.data(); }
  size_t size() const { return strings_.size(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

std::vector<int> IntArray(Napi::Array array) {
  std::vector<int> values(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) values[i] = array.Get(i).As<Napi::Number>().Int32Value();
  return values;
}

// A RawSpawnRequest as constructor arguments, in the order of RawSpawnArgs
// (native/binding.d.ts). By position, not by name: napi_get_named_property makes a string from
// the C name and looks it up in V8's string table on every call, and its 16 calls per spawn
// were a third of the spawn call's time outside the clone.
enum RequestField : size_t {
  kExecPaths, kArgv, kEnvp, kCwd, kUid, kGid, kGroups, kUmask, kRlimits, kSession,
  kForegroundTty, kFds, kCgroupFd, kPdeathsig, kNoNewPrivs, kMethod, kRequestFieldCount,
};

class Request {
 public:
  Request(const Napi::CallbackInfo& info, size_t first) : info_(info), first_(first) {}
  Napi::Value Get(RequestField field) const { return info_[first_ + field]; }
  long Long(RequestField field) const {
    return static_cast<long>(Get(field).As<Napi::Number>().Int64Value());
  }

 private:
  const Napi::CallbackInfo& info_;
  size_t first_;
};

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

bool ShareFdTable(EnvState* state, const ChildStack& stack) {
  if (state->fd_table_sharing_state < 0) {
    state->fd_table_sharing_state = ProbeFdTableSharing(stack) == 0 ? 1 : 0;
  }
  return state->fd_table_sharing_state == 1;
}

// The fds a child of this plan can name: its sources, the legacy path's cgroup directory,
// and fd 0 (the terminal for foreground_tty). The child keeps a copy of [0, this) only,
// rounded up to kUnshareAlign (see clone.h); the extra fds are closed with the rest.
int FdsNeededBelow(const std::vector<int>& sources, int cgroup_procs_dir_fd) {
  int highest = std::max(0, cgroup_procs_dir_fd);
  for (int fd : sources) highest = std::max(highest, fd);
  return (highest / kUnshareAlign + 1) * kUnshareAlign;
}

// The child failed before or at execve and has exited (CLONE_VFORK returned only then).
// Reap it here so a failed spawn leaves no zombie and no fd behind.
void ReapFailedChild(int pidfd) {
  siginfo_t si;
  while (sys_waitid(P_PIDFD, pidfd, &si, WEXITED, nullptr) < 0 && errno == EINTR) {
  }
  close(pidfd);
}

}  // namespace

SpawnedChild SpawnChild(const Napi::CallbackInfo& info, size_t first) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  if (info.Length() < first + kRequestFieldCount) throw Napi::TypeError::New(env, "spawn: incomplete request");
  const Request request(info, first);

  CStringArray exec_paths(request.Get(kExecPaths).As<Napi::Array>());
  CStringArray argv(request.Get(kArgv).As<Napi::Array>());
  // envp null: the child gets this process's own environment as it is now (environ), with
  // nothing copied; only the JS thread changes it (process.env), and it is blocked in spawn.
  Napi::Value envp_value = request.Get(kEnvp);
  const bool own_envp = envp_value.IsArray();
  CStringArray envp(own_envp ? envp_value.As<Napi::Array>() : Napi::Array());
  Napi::Value cwd_value = request.Get(kCwd);
  const std::string cwd = cwd_value.IsString() ? cwd_value.As<Napi::String>().Utf8Value() : "";
  Napi::Value groups_value = request.Get(kGroups);
  std::vector<int> groups_in = groups_value.IsArray() ? IntArray(groups_value.As<Napi::Array>())
                                                      : std::vector<int>();
  std::vector<gid_t> groups(groups_in.begin(), groups_in.end());
  std::vector<RlimitSpec> rlimits = ReadRlimits(request.Get(kRlimits).As<Napi::Array>());
  std::vector<int> fds = IntArray(request.Get(kFds).As<Napi::Array>());
  const int cgroup_fd = static_cast<int>(request.Long(kCgroupFd));
  const CloneMethod method = ChooseMethod(state, static_cast<int>(request.Long(kMethod)));

  if (exec_paths.size() == 0) throw Napi::TypeError::New(env, "spawn: no executable path");
  if (fds.size() > static_cast<size_t>(kMaxPlanFds)) {
    throw Napi::RangeError::New(env, "spawn: too many fds in the plan");
  }


  SpawnPlan plan = {};
  plan.exec_paths = exec_paths.data();
  plan.exec_path_count = exec_paths.size();
  plan.argv = argv.data();
  plan.envp = own_envp ? envp.data() : environ;
  plan.cwd = cwd_value.IsString() ? cwd.c_str() : nullptr;
  plan.uid = request.Long(kUid);
  plan.gid = request.Long(kGid);
  plan.groups = groups.data();
  plan.group_count = groups_value.IsArray() ? static_cast<long>(groups.size()) : -1;
  plan.umask = request.Long(kUmask);
  plan.rlimits = rlimits.data();
  plan.rlimit_count = rlimits.size();
  plan.session = static_cast<int>(request.Long(kSession));
  plan.foreground_tty = request.Get(kForegroundTty).ToBoolean().Value();
  plan.fd_sources = fds.data();
  plan.fd_count = static_cast<int>(fds.size());
  // CLONE_INTO_CGROUP exists only for clone3; the legacy path joins from inside the child.
  plan.cgroup_procs_dir_fd = method == CloneMethod::kLegacyClone ? cgroup_fd : -1;
  plan.pdeathsig = static_cast<int>(request.Long(kPdeathsig));
  plan.parent_pid = plan.pdeathsig > 0 ? getpid() : 0;
  plan.no_new_privs = request.Get(kNoNewPrivs).ToBoolean().Value();
  plan.close_fallback_limit = state->CloseFallbackLimit();

  ChildStack stack;
  if (!state->SpawnStack(&stack)) throw ErrnoError(env, errno, "mmap", "stack");
  const bool share_fd_table = ShareFdTable(state, stack);
  plan.unshare_fds_below = share_fd_table ? FdsNeededBelow(fds, plan.cgroup_procs_dir_fd) : 0;

  // A child switching credentials under CLONE_VM runs commit_creds on the memory map it
  // shares with us, which marks that map non-dumpable: the daemon itself would lose core
  // dumps and ptrace access. Remember the flag and restore it.
  const bool changes_credentials = plan.uid >= 0 || plan.gid >= 0 || plan.group_count >= 0;
  const int dumpable = changes_credentials ? prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) : -1;
  int pidfd = -1;
  const long pid = CloneVfork(method, stack, method == CloneMethod::kClone3 ? cgroup_fd : -1,
                              share_fd_table, RunSpawnChild, &plan, &pidfd);
  if (dumpable > 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable) {
    prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  }
  const char* clone_name = method == CloneMethod::kClone3 ? "clone3" : "clone";
  if (pid < 0) throw ErrnoError(env, static_cast<int>(-pid), clone_name, clone_name);

  if (plan.failed_stage != kStageNone) {
    const int err = plan.failed_errno;
    const int stage = plan.failed_stage;
    ReapFailedChild(pidfd);
    throw ErrnoError(env, err, stage == kStageExecve ? "execve" : SpawnStageName(stage),
                     SpawnStageName(stage));
  }

  return {pidfd, static_cast<pid_t>(pid), method == CloneMethod::kClone3};
}

}  // namespace pidvisor
