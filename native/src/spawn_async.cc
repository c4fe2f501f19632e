// spawnAsync: the JS thread reads the request and queues it; a clone thread of the addon clones
// it (and is the one CLONE_VFORK suspends); the environment's uv_async wakes the JS thread,
// which hands the child (or the error) to the callback.
//
// Invariants this file relies on (keep them):
//   - Every read of JS values and every probe (clone3, fd-table sharing) happens on the JS
//     thread, in SpawnAsync; a clone thread only makes syscalls on a prepared SpawnRequest,
//     which owns every byte the pre-exec child reads.
//   - One child stack per clone thread, used only by that thread's clones (as spawn_many.cc).
//   - Clone threads live as long as the process and hold no state of any environment: a
//     thread that ended would reparent its children (and fire a parent-death signal, which is
//     why such requests are refused).
//   - A child is handed to JS only through its environment's inbox, on that environment's
//     thread. An environment that is gone (a worker that ended) gets none: a clone that ends
//     after its teardown kills and reaps its child (SpawnRequest's destructor), so a spawn
//     nobody can take leaves nothing behind.
//   - JS callbacks (FunctionReference) are made, called and dropped on the JS thread only; a
//     job carries only an id.
#include "spawn_async.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "env_state.h"
#include "errors.h"
#include "spawn.h"
#include "spawn_request.h"

namespace pidvisor {

namespace {

// Clone threads, at most. Each clone holds its thread until the child has exec'd, so this is
// how many children can be loading their program at once before the next request waits its
// turn; a child stuck before exec (a cwd on a hung NFS mount) holds one thread, not all. More
// would only queue for the CPUs. With 8, 100 exec probes a second on a 2-CPU machine at load
// ~11 all ran within their period (bench/probes); other counts were not compared. Threads
// start on demand.
constexpr int kMaxCloneThreads = 8;
constexpr size_t kChildStackSize = 256 * 1024;  // as EnvState's
constexpr size_t kThreadStackSize = 256 * 1024;

struct Inbox;

struct Job {
  uint64_t id;
  std::unique_ptr<SpawnRequest> request;
  std::shared_ptr<Inbox> inbox;
};

// Where clone threads leave finished jobs for one environment. Shared with the threads, which
// may finish a job after the environment has gone.
struct Inbox {
  std::mutex mu;
  uv_async_t* wake = nullptr;  // null once the environment is closing: nothing is delivered
  std::vector<std::unique_ptr<Job>> done;

  bool Closed() {
    std::lock_guard<std::mutex> lock(mu);
    return wake == nullptr;
  }
};

// Hands a cloned job to its environment, or, when that has gone, drops it: the request's
// destructor kills and reaps its child (outside the lock: that may wait up to 250 ms).
void Deliver(std::unique_ptr<Job> job) {
  const std::shared_ptr<Inbox> inbox = job->inbox;
  {
    std::lock_guard<std::mutex> lock(inbox->mu);
    if (inbox->wake != nullptr) {
      inbox->done.push_back(std::move(job));
      uv_async_send(inbox->wake);
      return;
    }
  }
  job.reset();
}

// The stack a thread's children run on before exec, with a PROT_NONE guard page below.
bool MapChildStack(ChildStack* stack) {
  const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* mapping = mmap(nullptr, kChildStackSize + guard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mapping == MAP_FAILED) return false;
  if (mprotect(mapping, guard, PROT_NONE) < 0) {
    munmap(mapping, kChildStackSize + guard);
    return false;
  }
  stack->base = static_cast<char*>(mapping) + guard;
  stack->size = kChildStackSize;
  return true;
}

// The clone threads, shared by every environment of the process, never destroyed.
class CloneThreads {
 public:
  static CloneThreads& Instance() {
    static CloneThreads* threads = new CloneThreads();  // never destroyed: threads use it
    return *threads;
  }

  // Queues the job, starting a thread when every running one is busy. Returns false when no
  // thread runs at all and none could be started (pthread_create or mmap failed): the caller
  // then clones on its own thread rather than leave the job waiting for ever.
  bool Post(std::unique_ptr<Job>& job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() + 1 > idle_ && threads_ < kMaxCloneThreads && StartThread()) threads_++;
    if (threads_ == 0) return false;
    queue_.push_back(std::move(job));
    work_.notify_one();
    return true;
  }

 private:
  CloneThreads() = default;

  struct Start {
    CloneThreads* self;
    ChildStack stack;
  };

  bool StartThread() {
    auto start = std::make_unique<Start>();
    start->self = this;
    if (!MapChildStack(&start->stack)) return false;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return UnmapOnFailure(start->stack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, kThreadStackSize);
    // The thread starts with every signal blocked: process signals (SIGCHLD, SIGTERM) stay
    // with Node's threads, and a pre-exec child never starts with a handler installed.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pthread_t thread;
    const int err = pthread_create(&thread, &attr, &CloneThreads::ThreadMain, start.get());
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    pthread_attr_destroy(&attr);
    if (err != 0) return UnmapOnFailure(start->stack);
    start.release();  // the thread owns it now
    return true;
  }

  static bool UnmapOnFailure(const ChildStack& stack) {
    const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    munmap(static_cast<char*>(stack.base) - guard, stack.size + guard);
    return false;
  }

  static void* ThreadMain(void* arg) {
    std::unique_ptr<Start> start(static_cast<Start*>(arg));
    start->self->Serve(start->stack);
    return nullptr;
  }

  [[noreturn]] void Serve(const ChildStack& stack) {
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        idle_++;
        work_.wait(lock, [this] { return !queue_.empty(); });
        idle_--;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      // An environment that went while the job waited takes nothing: do not start it.
      if (job->inbox->Closed()) continue;
      job->request->Clone(stack);
      Deliver(std::move(job));
    }
  }

  std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::unique_ptr<Job>> queue_;
  int threads_ = 0;
  size_t idle_ = 0;
};

}  // namespace

// One environment's side: the uv_async that wakes its loop and the callbacks waiting.
class AsyncSpawns {
 public:
  // This environment's, made at its first spawnAsync.
  static AsyncSpawns* Of(Napi::Env env, EnvState* state) {
    if (state->async_spawns == nullptr) state->async_spawns = new AsyncSpawns(env, state);
    return state->async_spawns;
  }

  AsyncSpawns(const AsyncSpawns&) = delete;
  AsyncSpawns& operator=(const AsyncSpawns&) = delete;

  // `stack`: the environment's own, for the clone on this thread when no clone thread runs.
  void Start(std::unique_ptr<SpawnRequest> request, Napi::Function callback, const ChildStack& stack) {
    const uint64_t id = next_id_++;
    auto job = std::make_unique<Job>();
    job->id = id;
    job->request = std::move(request);
    job->inbox = inbox_;
    callbacks_.emplace(id, Napi::Persistent(callback));
    // A spawn under way keeps the loop alive, as a child being watched does.
    if (callbacks_.size() == 1) uv_ref(reinterpret_cast<uv_handle_t*>(wake_));
    if (!CloneThreads::Instance().Post(job)) {
      // No clone thread: clone here. The callback still comes from the loop, never from
      // inside spawnAsync.
      job->request->Clone(stack);
      Deliver(std::move(job));
    }
  }

  // Environment teardown (JS thread): nothing more is delivered; jobs already back are
  // dropped, which kills and reaps their children.
  void Close() {
    std::vector<std::unique_ptr<Job>> done;
    {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      inbox_->wake = nullptr;
      done.swap(inbox_->done);
    }
    done.clear();
    callbacks_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(wake_), [](uv_handle_t* closed) { delete reinterpret_cast<uv_async_t*>(closed); });
    wake_ = nullptr;
  }

 private:
  AsyncSpawns(Napi::Env env, EnvState* state) : env_(env), inbox_(std::make_shared<Inbox>()) {
    wake_ = new uv_async_t;
    const int r = uv_async_init(state->loop, wake_, &AsyncSpawns::OnWake);
    if (r != 0) {
      delete wake_;  // never initialised: uv_close must not see it
      throw ErrnoError(env, -r, "uv_async_init");
    }
    wake_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
    inbox_->wake = wake_;
  }

  static void OnWake(uv_async_t* wake) { static_cast<AsyncSpawns*>(wake->data)->DeliverDone(); }

  void DeliverDone() {
    std::vector<std::unique_ptr<Job>> done;
    {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      done.swap(inbox_->done);
    }
    for (std::unique_ptr<Job>& job : done) {
      auto found = callbacks_.find(job->id);
      if (found == callbacks_.end()) continue;  // cannot happen: ids are delivered once
      Napi::FunctionReference callback = std::move(found->second);
      callbacks_.erase(found);
      Call(callback, std::move(job));
    }
    if (callbacks_.empty()) uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
  }

  // Hands the job's outcome to its callback. A worker being terminated can run no more JS:
  // making the arguments then throws, and the job is dropped (its child killed and reaped,
  // by the request or by the value's finalizer).
  void Call(Napi::FunctionReference& callback, std::unique_ptr<Job> job) {
    Napi::Env env(env_);
    std::vector<napi_value> args;
    try {
      Napi::HandleScope scope(env);
      SpawnRequest& request = *job->request;
      if (request.Started()) {
        const ClonedChild child = request.TakeChild();
        Napi::Value value;
        try {
          value = ClonedChildValue(env, child);
        } catch (const Napi::Error&) {
          DiscardChild(child.pidfd, child.pid);
          throw;
        }
        args = {env.Null(), value};
      } else {
        args = {request.Failure(env).Value()};
      }
      job.reset();
      // napi_make_callback converts its receiver to an object: undefined would throw.
      callback.MakeCallback(env.Global(), args);
    } catch (const Napi::Error& error) {
      if (args.empty()) return;  // the arguments could not be made: nothing ran
      // No JS frame is below a uv callback: the exception belongs to the process.
      napi_fatal_exception(env, error.Value());
    }
  }

  napi_env env_;
  std::shared_ptr<Inbox> inbox_;
  uv_async_t* wake_ = nullptr;
  std::unordered_map<uint64_t, Napi::FunctionReference> callbacks_;
  uint64_t next_id_ = 0;
};

namespace {

RequestFields FieldsOf(Napi::Env env, Napi::Value entry) {
  if (!entry.IsArray() || entry.As<Napi::Array>().Length() != kRequestFieldCount) {
    throw Napi::TypeError::New(env, "spawnAsync: the request is not complete");
  }
  Napi::Array args = entry.As<Napi::Array>();
  RequestFields fields;
  for (uint32_t i = 0; i < kRequestFieldCount; i++) fields[i] = args.Get(i);
  return fields;
}

}  // namespace

Napi::Value SpawnAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "spawnAsync(request, callback)");
  EnvState* state = EnvState::Get(env);
  auto request = std::make_unique<SpawnRequest>(env, state, FieldsOf(env, info[0]));
  if (request->HasParentDeathSignal()) {
    throw Napi::TypeError::New(env, "spawnAsync: a parent-death signal follows the cloning thread; use spawn()");
  }
  ChildStack stack;
  if (!state->SpawnStack(&stack)) throw ErrnoError(env, errno, "mmap", "stack");
  request->DecideFdTableSharing(state, stack);
  AsyncSpawns::Of(env, state)->Start(std::move(request), info[1].As<Napi::Function>(), stack);
  return env.Undefined();
}

void CloseAsyncSpawns(EnvState* state) {
  if (state->async_spawns == nullptr) return;
  state->async_spawns->Close();
  delete state->async_spawns;
  state->async_spawns = nullptr;
}

}  // namespace pidvisor
