#include "process_handle.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env_state.h"
#include "errors.h"
#include "fd_layout.h"
#include "owned_children.h"
#include "spawn.h"
#include "syscalls.h"

namespace pidvisor {

namespace {

// A non-child's exit can be read only after its parent reaps it (PIDFD_INFO_EXIT is
// published at reap and signalled by POLLHUP); until then poll it on a timer, backing off.
constexpr uint64_t kFirstRetryMs = 10;
constexpr uint64_t kMaxRetryMs = 1000;

int64_t TimevalToMicros(const struct timeval& tv) {
  return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
}

// A wait(2) status word (as PIDFD_INFO_EXIT reports it) in waitid's si_code/si_status terms.
void ExitFromWaitStatus(int status, ExitInfo* exit) {
  if (WIFEXITED(status)) {
    exit->cld_code = CLD_EXITED;
    exit->cld_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit->cld_code = WCOREDUMP(status) ? CLD_DUMPED : CLD_KILLED;
    exit->cld_status = WTERMSIG(status);
  }
}

}  // namespace

// The raw members are keyed by registry symbols (native/raw-keys.ts): they are reachable on
// every ProcessRef, which extends this class, but are no part of its public surface.
Napi::Function ProcessHandle::Define(Napi::Env env) {
  auto key = [env](const char* name) { return Napi::Symbol::For(env, name); };
  return DefineClass(env, "ProcessHandle",
                     {
                         InstanceAccessor<&ProcessHandle::GetPid>("pid"),
                         InstanceAccessor<&ProcessHandle::GetPidfd>("pidfd"),
                         InstanceAccessor<&ProcessHandle::GetInode>(key("pidvisor.raw.inode")),
                         InstanceAccessor<&ProcessHandle::GetCloneMethod>(key("pidvisor.raw.cloneMethod")),
                         InstanceMethod<&ProcessHandle::SendSignal>(key("pidvisor.raw.sendSignal")),
                         InstanceMethod<&ProcessHandle::Watch>(key("pidvisor.raw.watch")),
                         InstanceMethod<&ProcessHandle::Close>(key("pidvisor.raw.close")),
                         InstanceMethod<&ProcessHandle::KillAndReap>(key("pidvisor.raw.killAndReap")),
                     });
}

Napi::Value ProcessHandle::SetExitHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "setExitHandler(fn)");
  EnvState::Get(env)->exit_handler = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

ProcessHandle::ProcessHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ProcessHandle>(info) {
  Napi::Env env = info.Env();
  const int op = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  // Nothing is registered before the process is held: a throw here leaves no trace (the
  // destructor does not run for a constructor that throws).
  if (op == kOpSpawn || op == kOpCloned) {
    const ClonedChild child = op == kOpSpawn ? SpawnChild(info, 1) : TakeClonedChild(env, info[1]);
    origin_ = Origin::kSpawned;
    clone3_ = child.clone3;
    Attach(child.pidfd, child.pid);
  } else if (op == kOpOpen && info[1].IsNumber()) {
    const pid_t pid = info[1].As<Napi::Number>().Int32Value();
    const int pidfd = sys_pidfd_open(pid, 0);  // O_CLOEXEC is implied
    if (pidfd < 0) throw ErrnoError(env, errno, "pidfd_open");
    origin_ = Origin::kOpened;
    Attach(pidfd, pid);
  } else if (op == kOpPidfd && info[1].IsNumber() && info[2].IsNumber()) {
    // A pidfd from openPidfsHandle (or a keeper): it names the process already, whatever
    // the pid has come to mean since; the pid is what the kernel reported for it.
    origin_ = Origin::kOpened;
    Attach(info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value());
  } else if (op == kOpPeer && info[1].IsNumber() && info[2].IsNumber()) {
    // SO_PEERPIDFD (Linux 6.5) names the peer process itself, immune to pid reuse; older
    // kernels answer ENOPROTOOPT.
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(info[1].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
      throw ErrnoError(env, errno, "getsockopt", "SO_PEERPIDFD");
    }
    if (pidfd < 0) throw ErrnoError(env, ENOPROTOOPT, "getsockopt", "SO_PEERPIDFD");
    origin_ = Origin::kPeer;
    Attach(pidfd, info[2].As<Napi::Number>().Int32Value());
  } else {
    throw Napi::TypeError::New(env, "ProcessHandle is made by spawn(), spawnMany(), adopt(), openProcess() or peerCredentials()");
  }
}

void ProcessHandle::Attach(int pidfd, pid_t pid) {
  state_ = EnvState::Get(Env());
  // A watched process's pidfd lives as long as the process: keep it out of the range a spawn
  // copies. A socket peer's lasts one request; moving it would only cost two syscalls.
  pidfd_ = origin_ == Origin::kPeer ? pidfd : MoveAboveFloor(pidfd);
  pid_ = pid;
  struct stat st;
  // On pidfs (Linux 6.9) st_ino is unique per process for the boot; before, every pidfd
  // shares one anon inode and the TS layer falls back to the start time.
  if (fstat(pidfd_, &st) == 0) inode_ = st.st_ino;
  // A spawned child was recorded in OwnedChildren by its clone already; an opened process is
  // recorded by Watch(), and ForgetOwnership drops either record.
  owns_pid_ = origin_ == Origin::kSpawned;
  state_->handles.Insert(this);
}

ProcessHandle::~ProcessHandle() {
  Shutdown();
  if (state_ != nullptr) state_->handles.Remove(this);
}

void ProcessHandle::Shutdown() {
  StopWatching();
  CloseFd();
  notify_exit_ = false;
  before_reap_.reset();
}

Napi::Value ProcessHandle::GetPid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pid_);
}

Napi::Value ProcessHandle::GetInode(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), inode_);
}

Napi::Value ProcessHandle::GetPidfd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pidfd_);
}

Napi::Value ProcessHandle::GetCloneMethod(const Napi::CallbackInfo& info) {
  if (origin_ != Origin::kSpawned) return info.Env().Null();
  return Napi::String::New(info.Env(), clone3_ ? "clone3" : "clone");
}

Napi::Value ProcessHandle::SendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int sig = info[0].As<Napi::Number>().Int32Value();
  const bool to_group = info.Length() > 1 && info[1].ToBoolean().Value();
  if (pidfd_ < 0) {
    // Reaped or closed: the pid may already name another process. No syscall at all.
    Napi::Error error = Napi::Error::New(env, "process already exited; its pidfd is closed");
    error.Set("code", Napi::String::New(env, "ERR_PROCESS_EXITED"));
    throw error;
  }
  // PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9) signals the process group of this process; the
  // pidfd pins the group leader, so the group cannot be a recycled one.
  if (sys_pidfd_send_signal(pidfd_, sig, to_group ? PIDFD_SIGNAL_PROCESS_GROUP : 0) == 0) {
    return env.Undefined();
  }
  const int err = errno;
  // Before Linux 6.9 the flag is EINVAL. Our unreaped child's pid cannot be reused (we hold
  // it as a zombie at worst), so kill(-pid) reaches its group when it leads one.
  if (err == EINVAL && to_group && origin_ == Origin::kSpawned && !reaped_ && getpgid(pid_) == pid_) {
    if (kill(-pid_, sig) == 0) return env.Undefined();
    throw ErrnoError(env, errno, "kill");
  }
  throw ErrnoError(env, err, "pidfd_send_signal");
}

Napi::Value ProcessHandle::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->exit_handler.IsEmpty()) throw Napi::Error::New(env, "watch: no exit handler is set");
  if (pidfd_ < 0) throw Napi::Error::New(env, "watch: the handle is closed");
  if (polled_ || notify_exit_) throw Napi::Error::New(env, "watch: already watching");
  const int err = state_->exit_poller.Add(pidfd_, this);
  if (err != 0) throw ErrnoError(env, err, "epoll_ctl");
  polled_ = true;
  notify_exit_ = true;
  // A watched opened process owns its pid while it is watched: if it is (or, with us as
  // subreaper, becomes) our child, the orphan reaper must leave its exit status to this handle.
  // Only while watched: an unwatched handle never reaps, and its record would outlive the
  // process, so after the pid's reuse it would hide an unrelated orphan from the reaper.
  if (origin_ == Origin::kOpened && !owns_pid_) {
    OwnedChildren::AddWatcher(pid_, inode_);
    owns_pid_ = true;
  }
  if (info.Length() > 0 && info[0].IsFunction()) {
    before_reap_ = std::make_unique<Napi::FunctionReference>(Napi::Persistent(info[0].As<Napi::Function>()));
  }
  Ref();
  holds_ref_ = true;
  return env.Undefined();
}

Napi::Value ProcessHandle::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  if (holds_ref_) {
    holds_ref_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

// For a spawn that cannot be completed after the clone (the watch could not start): the
// child must not outlive the failure unwatched. SIGKILL through the pidfd and a reap, waiting
// a bounded time (see pidvisor::KillAndReap); a child that does not die in time, or that the
// signal could not reach, is left to the orphan reaper when the close below drops its record.
Napi::Value ProcessHandle::KillAndReap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (origin_ != Origin::kSpawned) throw Napi::Error::New(env, "killAndReap: not a spawned child");
  if (pidfd_ >= 0 && !reaped_) {
    StopWatching();
    notify_exit_ = false;
    if (pidvisor::KillAndReap(pidfd_)) {
      reaped_ = true;
      ForgetOwnership();
    }
  }
  Shutdown();
  if (holds_ref_) {
    holds_ref_ = false;
    Unref();
  }
  return env.Undefined();
}

void ProcessHandle::OnRetryTimer(uv_timer_t* timer) {
  static_cast<ProcessHandle*>(timer->data)->OnReadable();
}

void ProcessHandle::OnReadable() {
  ExitInfo exit;
  int err = 0;
  if (before_reap_ != nullptr && MayReap() && HasExited()) {
    // The process is a zombie: its pid, and the process group it led, are still pinned.
    // This is the last moment a group signal cannot reach a stranger.
    Napi::HandleScope scope(Env());
    std::unique_ptr<Napi::FunctionReference> hook = std::move(before_reap_);
    try {
      hook->MakeCallback(Value(), {});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(Env(), e.Value());
    }
    if (pidfd_ < 0) return;  // the hook closed the handle
  }
  // From here on, a watch still in the poller's set has fired (the retry timer runs only for
  // a pidfd taken out of the set): the set will not report it again.
  if (TryReapChild(&exit, &err)) {
    reaped_ = true;
    ForgetOwnership();
    StopWatching(/*reported=*/true);
    CloseFd();
    Deliver(Env().Null(), &exit);
    return;
  }
  if (err == 0) {
    // Readable but nothing to reap: an exited child that a ptrace tracer has not released
    // yet (waitid answers nothing until it does). The set reported it once; poll it on a timer.
    if (pidfd_ >= 0) ScheduleRetry();
    return;
  }
  if (err == ECHILD) {   // someone else's child: adopted, or a socket peer
    if (TryReadExitOfNonChild(&exit)) {
      StopWatching(/*reported=*/true);
      CloseFd();
      Deliver(Env().Null(), &exit);
    } else {
      ScheduleRetry();
    }
    return;
  }
  StopWatching();
  Napi::HandleScope scope(Env());
  Deliver(ErrnoError(Env(), err, "waitid").Value(), nullptr);
}

// Reaping a process we did not spawn could steal it from libuv, from the handle that spawned
// it (in this environment or another: the record is process-wide), or reap a peer: for those,
// behave as a non-parent and wait for the real parent's reap.
bool ProcessHandle::MayReap() const {
  return origin_ == Origin::kSpawned ||
         (origin_ == Origin::kOpened && !state_->LibuvOwnsChild(pid_) && !OwnedChildren::IsSpawned(pid_));
}

bool ProcessHandle::HasExited() {
  siginfo_t si = {};
  return sys_waitid(P_PIDFD, pidfd_, &si, WEXITED | WNOHANG | WNOWAIT, nullptr) == 0 &&
         si.si_pid != 0;
}

bool ProcessHandle::TryReapChild(ExitInfo* exit, int* err) {
  if (!MayReap()) {
    *err = ECHILD;
    return false;
  }
  siginfo_t si = {};
  struct rusage usage = {};
  if (sys_waitid(P_PIDFD, pidfd_, &si, WEXITED | WNOHANG, &usage) < 0) {
    *err = errno == EINTR ? 0 : errno;
    return false;
  }
  if (si.si_pid == 0) return false;
  exit->cld_code = si.si_code;
  exit->cld_status = si.si_status;
  exit->has_rusage = true;
  exit->user_cpu_us = TimevalToMicros(usage.ru_utime);
  exit->system_cpu_us = TimevalToMicros(usage.ru_stime);
  exit->max_rss_kb = usage.ru_maxrss;
  exit->source = ExitSource::kWaitid;
  return true;
}

bool ProcessHandle::TryReadExitOfNonChild(ExitInfo* exit) {
  struct pollfd pfd = {pidfd_, POLLIN, 0};
  if (poll(&pfd, 1, 0) < 0 || !(pfd.revents & POLLHUP)) return false;  // not reaped yet
  pidvisor_pidfd_info pinfo = {};
  pinfo.mask = PIDVISOR_PIDFD_INFO_EXIT;
  if (ioctl(pidfd_, PIDVISOR_PIDFD_GET_INFO, &pinfo) == 0 &&
      (pinfo.mask & PIDVISOR_PIDFD_INFO_EXIT)) {
    ExitFromWaitStatus(pinfo.exit_code, exit);
    exit->source = ExitSource::kPidfdInfo;
  } else {
    exit->source = ExitSource::kUnknown;  // before Linux 6.15 only the reaper learns the status
  }
  return true;
}

void ProcessHandle::ScheduleRetry() {
  if (polled_) {
    state_->exit_poller.Remove(pidfd_, this);
    polled_ = false;
  }
  if (retry_ == nullptr) {
    retry_ = new RetryTimer;
    uv_timer_init(state_->loop, &retry_->handle);
    retry_->handle.data = this;
    retry_->delay_ms = kFirstRetryMs;
  } else if (retry_->delay_ms < kMaxRetryMs) {
    retry_->delay_ms *= 2;
  }
  uv_timer_start(&retry_->handle, OnRetryTimer, retry_->delay_ms, 0);
}

void ProcessHandle::StopWatching(bool reported) {
  // Out of the epoll set before the fd is closed (see ExitPoller::Remove and Forget).
  if (polled_) {
    if (reported) state_->exit_poller.Forget(this);
    else state_->exit_poller.Remove(pidfd_, this);
    polled_ = false;
  }
  if (retry_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_->handle),
             [](uv_handle_t* closed) { delete reinterpret_cast<RetryTimer*>(closed); });
    retry_ = nullptr;
  }
}

void ProcessHandle::CloseFd() {
  if (pidfd_ >= 0) {
    close(pidfd_);
    pidfd_ = -1;
  }
  // Closed before the reap: unless another handle here holds it, the orphan reaper may
  // take this pid now, as nobody else will.
  if (!reaped_) ForgetOwnership();
}

void ProcessHandle::ForgetOwnership() {
  if (!owns_pid_) return;
  owns_pid_ = false;
  if (spawned()) OwnedChildren::RemoveSpawned(pid_);
  else OwnedChildren::RemoveWatcher(pid_, inode_);
}

void ProcessHandle::Deliver(Napi::Value error, const ExitInfo* exit) {
  if (!notify_exit_) return;
  notify_exit_ = false;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Value undefined = env.Undefined();
  std::initializer_list<napi_value> args = {
      error,
      exit != nullptr ? Napi::Number::New(env, exit->cld_code) : undefined,
      exit != nullptr ? Napi::Number::New(env, exit->cld_status) : undefined,
      exit != nullptr ? Napi::Number::New(env, static_cast<int>(exit->source)) : undefined,
      exit != nullptr && exit->has_rusage ? Napi::Number::New(env, static_cast<double>(exit->user_cpu_us)) : undefined,
      exit != nullptr && exit->has_rusage ? Napi::Number::New(env, static_cast<double>(exit->system_cpu_us)) : undefined,
      exit != nullptr && exit->has_rusage ? Napi::Number::New(env, static_cast<double>(exit->max_rss_kb)) : undefined,
  };
  const bool had_ref = holds_ref_;
  holds_ref_ = false;
  try {
    state_->exit_handler.MakeCallback(Value(), args);
  } catch (const Napi::Error& e) {
    // An exception in the JS callback belongs to the process, not to us.
    napi_fatal_exception(env, e.Value());
  }
  if (had_ref) Unref();
}

}  // namespace pidvisor
