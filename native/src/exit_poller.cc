#include "exit_poller.h"

#include <errno.h>
#include <unistd.h>

#include "fd_layout.h"
#include "process_handle.h"

namespace pidvisor {

// The uv poll is started once and stays started: stopping it when the last child is reaped
// and starting it again at the next spawn made libuv re-register the epoll fd in its own set
// on every sequential spawn (epoll_ctl ADD, EEXIST, MOD: three syscalls). Whether it keeps the
// loop alive is uv_ref/uv_unref, which costs no syscall.
int ExitPoller::Add(int pidfd, ProcessHandle* handle) {
  if (epoll_fd_ < 0) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errno;
    epoll_fd_ = MoveAboveFloor(fd);
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop_, poll_, epoll_fd_);
    if (r != 0) {
      delete poll_;  // never initialised: uv_close must not see it
    } else {
      poll_->data = this;
      r = uv_poll_start(poll_, UV_READABLE, OnEpollReadable);
      if (r == 0) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
      else uv_close(reinterpret_cast<uv_handle_t*>(poll_),
                    [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
    }
    if (r != 0) {
      poll_ = nullptr;
      close(epoll_fd_);
      epoll_fd_ = -1;
      return -r;
    }
  }
  struct epoll_event event = {};
  event.events = EPOLLIN | EPOLLONESHOT;
  event.data.ptr = handle;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &event) < 0) return errno;
  if (watched_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return 0;
}

void ExitPoller::Remove(int pidfd, ProcessHandle* handle) {
  if (epoll_fd_ < 0 || watched_ == 0) return;
  // Counted off even if the kernel has already dropped the fd (someone closed our pidfd):
  // a count that never reaches 0 would keep the event loop alive for ever.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
  Unlist(handle);
}

void ExitPoller::Forget(ProcessHandle* handle) {
  if (epoll_fd_ < 0 || watched_ == 0) return;
  Unlist(handle);
}

void ExitPoller::Unlist(ProcessHandle* handle) {
  for (int i = batch_next_; i < batch_count_; i++) {
    if (batch_[i].data.ptr == handle) batch_[i].data.ptr = nullptr;
  }
  // Nothing watched: the loop may end, as it would with no child process left.
  if (--watched_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void ExitPoller::Close() {
  if (poll_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
    poll_ = nullptr;
  }
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
  watched_ = 0;
  batch_next_ = batch_count_ = 0;
}

void ExitPoller::OnEpollReadable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  static_cast<ExitPoller*>(poll->data)->Dispatch();
}

// A handle's exit callback runs JS, which may close other handles or let them be collected:
// each of those passes through Remove(), which clears its entry in the pending batch, so no
// entry can name a handle that is gone. Handles added meanwhile are not in the batch; they
// are reported at the next wake-up. One epoll_wait per wake-up: a batch shorter than kBatch
// drained the set, and a full one leaves the rest readable for the next loop iteration.
void ExitPoller::Dispatch() {
  if (epoll_fd_ < 0) return;
  const int n = epoll_wait(epoll_fd_, batch_, kBatch, 0);
  if (n <= 0) return;  // nothing, or EINTR: next wake
  batch_count_ = n;
  for (batch_next_ = 0; batch_next_ < batch_count_;) {
    void* handle = batch_[batch_next_++].data.ptr;
    if (handle != nullptr) static_cast<ProcessHandle*>(handle)->OnPidfdReadable();
  }
  batch_next_ = batch_count_ = 0;
}

}  // namespace pidvisor
