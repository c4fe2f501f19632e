#include "env_state.h"

#include "process_handle.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>

namespace pidvisor {

namespace {
// The child runs a few syscalls and no deep calls; 256 KiB is generous and costs only the
// pages it touches. A PROT_NONE guard page below catches an overflow.
constexpr size_t kChildStackSize = 256 * 1024;

uv_loop_t* LoopOf(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw Napi::Error::New(env, "pidvisor: napi_get_uv_event_loop failed");
  }
  return loop;
}
}  // namespace

EnvState::EnvState(Napi::Env env) : loop(LoopOf(env)), exit_poller(loop) {}

EnvState::~EnvState() {
  if (stack_base_ != nullptr) munmap(stack_base_, stack_size_);
}

bool EnvState::SpawnStack(ChildStack* stack) {
  if (stack_base_ == nullptr) {
    const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* mapping = mmap(nullptr, kChildStackSize + guard, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) return false;
    if (mprotect(mapping, guard, PROT_NONE) < 0) {
      const int err = errno;
      munmap(mapping, kChildStackSize + guard);
      errno = err;
      return false;
    }
    stack_base_ = mapping;
    stack_size_ = kChildStackSize + guard;
  }
  const size_t guard = stack_size_ - kChildStackSize;
  stack->base = static_cast<char*>(stack_base_) + guard;
  stack->size = kChildStackSize;
  return true;
}

int EnvState::CloseFallbackLimit() {
  if (close_fallback_limit_ < 0) {
    struct rlimit nofile = {};
    getrlimit(RLIMIT_NOFILE, &nofile);
    close_fallback_limit_ = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > 65536
                                ? 65536
                                : static_cast<int>(nofile.rlim_cur);
  }
  return close_fallback_limit_;
}

// libuv keeps every child_process it has not yet reaped on loop->process_handles. The
// layout is that of the libuv headers this addon is compiled against, i.e. Node's own.
#if UV_VERSION_HEX < 0x012e00
#error "libuv >= 1.46 (struct uv__queue) is required"
#endif
bool EnvState::LibuvOwnsChild(pid_t pid) const {
  const struct uv__queue* head = &loop->process_handles;
  for (const struct uv__queue* q = head->next; q != head; q = q->next) {
    const char* base = reinterpret_cast<const char*>(q) - offsetof(uv_process_t, queue);
    if (reinterpret_cast<const uv_process_t*>(base)->pid == pid) return true;
  }
  return false;
}

}  // namespace pidvisor
