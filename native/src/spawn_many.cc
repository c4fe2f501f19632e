// spawnMany: several CLONE_VFORK clones at once, so a supervisor starting 200 services is not
// serialised on the JS thread. Each clone suspends its thread until the child execs, and on
// a busy machine most of that time is the woken parent waiting for a CPU while the new
// program's loader runs: with a few threads cloning, those waits overlap.
//
// Invariants this file relies on (keep them):
//   - Every child is recorded as ours (OwnedChildren) by the clone itself, on whichever thread
//     runs it, before any orphan sweep could see it exit; the record stays until its
//     ProcessHandle (kOpCloned) reaps it, or ClonedChildValue's finalizer discards it.
//   - Every request carries its own envp (built from process.env on the JS thread when the
//     caller gave none): no clone reads `environ`.
//   - Every probe (clone3, fd-table sharing) and every read of JS values happens on the JS
//     thread before the helpers start; a helper only makes syscalls on prepared plans.
//   - One child stack per cloning thread: a CLONE_VM child runs on the stack its parent
//     thread handed it until it execs or exits, which is exactly when that thread's clone
//     returns, so a thread may reuse its stack for its next clone and for nothing else.
//   - PR_SET_PDEATHSIG follows the thread that created the child, not the process: a child
//     that asks for it is cloned on the calling thread, as spawn() would, never on a helper.
//   - Each clone blocks all signals on its own thread around the clone (CloneVfork).
#include "spawn_many.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "env_state.h"
#include "errors.h"
#include "spawn.h"
#include "spawn_request.h"

namespace pidvisor {

namespace {

// Threads cloning at once, the calling thread included: min(entries, CPUs this process may
// run on, this cap). A clone thread mostly waits for its child's exec, but that child and the
// woken thread each need a CPU, so threads beyond the CPUs only queue. The cap keeps the
// helpers (which live as long as the process, with a child stack each) few; on a busy 2-CPU
// machine 4 threads measured no better than 2 beyond the noise (bench/README.md).
constexpr int kMaxCloneThreads = 4;
constexpr size_t kHelperChildStackSize = 256 * 1024;  // as EnvState's stack
constexpr size_t kHelperThreadStackSize = 256 * 1024;

// One entry of the list: a RawSpawnArgs array, read as the constructor reads its arguments.
RequestFields FieldsOf(Napi::Env env, Napi::Value entry) {
  if (!entry.IsArray() || entry.As<Napi::Array>().Length() != kRequestFieldCount) {
    throw Napi::TypeError::New(env, "spawnMany: an entry is not a complete request");
  }
  Napi::Array args = entry.As<Napi::Array>();
  RequestFields fields;
  for (uint32_t i = 0; i < kRequestFieldCount; i++) fields[i] = args.Get(i);
  return fields;
}

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

// The requests of one call that may be cloned on any thread, taken one at a time by index.
struct Batch {
  std::vector<SpawnRequest*> requests;
  std::atomic<size_t> next{0};
  int helpers_allowed = 0;
  int helpers_inside = 0;  // guarded by CloneHelpers::mu_

  bool HasWork() const { return next.load(std::memory_order_relaxed) < requests.size(); }
  void Work(const ChildStack& stack) {
    for (size_t i = next.fetch_add(1); i < requests.size(); i = next.fetch_add(1)) {
      requests[i]->Clone(stack);
    }
  }
};

// Helper threads that live as long as the process, shared by every Node environment. They
// are never created and joined per batch: a thread's children would get their parent-death
// signal, or be reparented, when it ended. They hold no state of any environment.
class CloneHelpers {
 public:
  static CloneHelpers& Instance() {
    static CloneHelpers* helpers = new CloneHelpers();  // never destroyed: threads use it
    return *helpers;
  }

  // Publishes the batch to up to batch->helpers_allowed helpers, starting threads on first
  // need. Fewer threads (pthread_create or mmap failed) only means less parallelism.
  void Post(Batch* batch) {
    if (batch->helpers_allowed <= 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    while (threads_ < batch->helpers_allowed && StartThread()) threads_++;
    batches_.push_back(batch);
    work_.notify_all();
  }

  // Takes the batch back once the caller found no index left to take: then every request has
  // been claimed, and each claimed one is done when no helper is inside any more.
  void Retire(Batch* batch) {
    if (batch->helpers_allowed <= 0) return;
    std::unique_lock<std::mutex> lock(mu_);
    batches_.erase(std::find(batches_.begin(), batches_.end(), batch));
    left_.wait(lock, [batch] { return batch->helpers_inside == 0; });
  }

 private:
  CloneHelpers() = default;

  bool StartThread() {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, kHelperThreadStackSize);
    // The thread starts with every signal blocked: process signals (SIGCHLD, SIGTERM) stay
    // with Node's threads, and a pre-exec child never starts with a handler installed.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pthread_t thread;
    const int err = pthread_create(&thread, &attr, &CloneHelpers::ThreadMain, this);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    pthread_attr_destroy(&attr);
    return err == 0;
  }

  static void* ThreadMain(void* arg) {
    static_cast<CloneHelpers*>(arg)->Serve();
    return nullptr;
  }

  // The stack this thread's children run on before exec, with a PROT_NONE guard page below.
  static bool MapChildStack(ChildStack* stack) {
    const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* mapping = mmap(nullptr, kHelperChildStackSize + guard, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) return false;
    if (mprotect(mapping, guard, PROT_NONE) < 0) {
      munmap(mapping, kHelperChildStackSize + guard);
      return false;
    }
    stack->base = static_cast<char*>(mapping) + guard;
    stack->size = kHelperChildStackSize;
    return true;
  }

  void Serve() {
    ChildStack stack;
    // Without a stack this thread takes no work; batches still finish on the calling thread.
    if (!MapChildStack(&stack)) return;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      Batch* batch = nullptr;
      work_.wait(lock, [&] { return (batch = Joinable()) != nullptr; });
      batch->helpers_inside++;
      lock.unlock();
      batch->Work(stack);
      lock.lock();
      batch->helpers_inside--;
      left_.notify_all();
    }
  }

  Batch* Joinable() const {
    for (Batch* batch : batches_) {
      if (batch->HasWork() && batch->helpers_inside < batch->helpers_allowed) return batch;
    }
    return nullptr;
  }

  std::mutex mu_;
  std::condition_variable work_;  // a batch was posted
  std::condition_variable left_;  // a helper left a batch
  std::vector<Batch*> batches_;
  int threads_ = 0;
};

}  // namespace

Napi::Value SpawnMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState* state = EnvState::Get(env);
  Napi::Array list = info[0].As<Napi::Array>();
  const uint32_t n = list.Length();
  Napi::Array results = Napi::Array::New(env, n);

  // Read every request first (JS values, probes: JS thread only). A malformed one gets its
  // error in its slot and is not started; the others go on.
  std::vector<std::unique_ptr<SpawnRequest>> requests(n);
  for (uint32_t i = 0; i < n; i++) {
    try {
      requests[i] = std::make_unique<SpawnRequest>(env, state, FieldsOf(env, list.Get(i)));
    } catch (const Napi::Error& error) {
      results.Set(i, error.Value());
    }
  }

  ChildStack stack;
  if (!state->SpawnStack(&stack)) throw ErrnoError(env, errno, "mmap", "stack");
  Batch batch;
  std::vector<SpawnRequest*> pinned;  // parentDeathSignal: cloned on this thread only
  for (auto& request : requests) {
    if (!request) continue;
    request->DecideFdTableSharing(state, stack);
    (request->HasParentDeathSignal() ? pinned : batch.requests).push_back(request.get());
  }
  const int threads = std::min({static_cast<int>(n), UsableCpus(), kMaxCloneThreads});
  batch.helpers_allowed = std::min(threads - 1, static_cast<int>(batch.requests.size()));

  // Children that change credentials mark our memory map non-dumpable: each clone keeps the
  // process-wide count of DumpableGuard (dumpable.h), which restores the flag after the last.
  CloneHelpers& helpers = CloneHelpers::Instance();
  helpers.Post(&batch);
  for (SpawnRequest* request : pinned) request->Clone(stack);
  // This thread takes work too, so the batch completes even if no helper ever joins.
  batch.Work(stack);
  helpers.Retire(&batch);

  for (uint32_t i = 0; i < n; i++) {
    if (!requests[i]) continue;
    SpawnRequest& request = *requests[i];
    results.Set(i, request.Started() ? ClonedChildValue(env, request.TakeChild()) : request.Failure(env).Value());
  }
  return results;
}

}  // namespace pidvisor
