// A process named by a pidfd: the only way pidvisor reaches a process.
//
// The handle owns its pidfd. It learns of the exit through the environment's ExitPoller (an
// epoll set watched in the Node event loop; no thread per child), reaps with waitid(P_PIDFD), and closes the
// pidfd right after the reap. From then on signal() fails without any syscall: the numeric
// pid is never used to reach a process, so pid reuse cannot make us hit another one.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>

namespace pidvisor {

struct EnvState;

// Where an exit record came from; reported to JS as this number (RawExitFields in
// native/binding.d.ts), which costs no string per exit.
enum class ExitSource { kWaitid = 0, kPidfdInfo = 1, kUnknown = 2 };

// How a process ended, as waitid(2) reports it (CLD_EXITED/KILLED/DUMPED and the code or signal),
// plus where the answer came from. Mapping to code/signal/coreDumped is done in TypeScript.
struct ExitInfo {
  int cld_code = 0;  // 0: unknown (not our child and the kernel cannot tell us, pre-6.15)
  int cld_status = 0;
  bool has_rusage = false;
  int64_t user_cpu_us = 0;
  int64_t system_cpu_us = 0;
  int64_t max_rss_kb = 0;
  ExitSource source = ExitSource::kWaitid;
};

class ProcessHandle : public Napi::ObjectWrap<ProcessHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  // How the handle came to be, which decides whether it may reap the process.
  enum class Origin : uint8_t {
    kSpawned,  // our child from birth: we reap it
    kOpened,   // opened by pid: reap only if it is our child and no one else here waits for it
    kPeer,     // a socket peer: never reap
  };
  // new ProcessHandle(op, ...): what the handle is made by. The TS classes (ProcessRef,
  // ChildProcess) extend this class, so each process is one JS object: no second object,
  // no result record, and the constructor call comes from JS rather than from C++
  // (napi_new_instance cost more than the JS-side construction it replaced).
  enum Op : int {
    kOpSpawn = 0,  // (op, ...request): clone a child (SpawnChild)
    kOpOpen = 1,   // (op, pid): pidfd_open
    kOpPeer = 2,   // (op, socketFd, pid): SO_PEERPIDFD of a unix socket's peer
    kOpCloned = 3,  // (op, child): take a child spawnMany cloned (TakeClonedChild)
    kOpPidfd = 4,  // (op, pidfd, pid): take ownership of a pidfd opened elsewhere (pidfs handle)
  };
  // setExitHandler(fn): the one function every handle of this environment reports its exit
  // to, as fn.call(handle, error, siCode, siStatus, source, userCpuMicros, systemCpuMicros,
  // maxRssKiB). One shared function instead of a closure and a reference per watched
  // process: with 10,000 children that is a few MB less and a faster spawn.
  static Napi::Value SetExitHandler(const Napi::CallbackInfo& info);

  explicit ProcessHandle(const Napi::CallbackInfo& info);
  ~ProcessHandle() override;

  // Stops watching and closes the fd; used by close() and at environment shutdown.
  void Shutdown();

  bool spawned() const { return origin_ == Origin::kSpawned; }

  // Called by the ExitPoller when the pidfd turns readable (the process exited, or was reaped
  // by its real parent when it is not our child).
  void OnPidfdReadable() { OnReadable(); }

 private:
  // Takes ownership of pidfd.
  void Attach(int pidfd, pid_t pid);
  Napi::Value GetPid(const Napi::CallbackInfo& info);
  Napi::Value GetInode(const Napi::CallbackInfo& info);
  Napi::Value GetPidfd(const Napi::CallbackInfo& info);
  Napi::Value GetCloneMethod(const Napi::CallbackInfo& info);
  Napi::Value SendSignal(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value KillAndReap(const Napi::CallbackInfo& info);

  static void OnRetryTimer(uv_timer_t* timer);
  void OnReadable();
  bool MayReap() const;
  bool HasExited();
  bool TryReapChild(ExitInfo* exit, int* err);
  bool TryReadExitOfNonChild(ExitInfo* exit);
  void ScheduleRetry();
  // reported: the poller has delivered this handle's one report, and the pidfd is closed next.
  void StopWatching(bool reported = false);
  void CloseFd();
  void ForgetOwnership();
  void Deliver(Napi::Value error, const ExitInfo* exit);

  friend class HandleTable;

  // Ordered by size, so that 10,000 handles cost no padding.
  EnvState* state_ = nullptr;
  uint64_t inode_ = 0;
  ProcessHandle* bucket_next_ = nullptr;  // EnvState::handles
  // The rarely used parts live outside the handle, so each of 10,000 watched children costs
  // two pointers for them, not 40 bytes.
  struct RetryTimer {
    uv_timer_t handle;  // first: uv_close's callback gets its address
    uint64_t delay_ms;
  };
  RetryTimer* retry_ = nullptr;
  std::unique_ptr<Napi::FunctionReference> before_reap_;
  int pidfd_ = -1;
  pid_t pid_ = 0;
  Origin origin_ = Origin::kSpawned;
  bool reaped_ = false;
  bool clone3_ = false;  // spawned by clone3 (else by the legacy clone)
  bool holds_ref_ = false;  // Ref() taken while watching, so GC cannot drop a live watch
  bool polled_ = false;  // the pidfd is in the ExitPoller's set
  bool notify_exit_ = false;  // watch() was called and the exit has not been delivered yet
  // Recorded in OwnedChildren (a spawned child from birth, an opened process while watched):
  // the orphan reaper leaves that pid alone. Until the reap, or a close before it.
  bool owns_pid_ = false;
};

}  // namespace pidvisor
