#include "exit_poller.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fd_layout.h"
#include "process_handle.h"

namespace pidvisor {

namespace {
// Exits handled per wake-up before other I/O gets its turn; the rest wait for the next loop
// iteration (the set stays readable).
constexpr int kMaxExitsPerWake = 256;
}  // namespace

int ExitPoller::Add(int pidfd, ProcessHandle* handle) {
  if (epoll_fd_ < 0) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errno;
    epoll_fd_ = MoveAboveFloor(fd);
    poll_ = new uv_poll_t;
    const int r = uv_poll_init(loop_, poll_, epoll_fd_);
    if (r != 0) {
      delete poll_;  // never initialised: uv_close must not see it
      poll_ = nullptr;
      close(epoll_fd_);
      epoll_fd_ = -1;
      return -r;
    }
    poll_->data = this;
  }
  struct epoll_event event = {};
  event.events = EPOLLIN;
  event.data.ptr = handle;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &event) < 0) return errno;
  if (watched_++ == 0) {
    const int r = uv_poll_start(poll_, UV_READABLE, OnEpollReadable);
    if (r != 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
      watched_ = 0;
      return -r;
    }
  }
  return 0;
}

void ExitPoller::Remove(int pidfd) {
  if (epoll_fd_ < 0 || watched_ == 0) return;
  // Counted off even if the kernel has already dropped the fd (someone closed our pidfd):
  // a count that never reaches 0 would keep the event loop alive for ever.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
  // Nothing watched: the loop may end, as it would with no child process left.
  if (--watched_ == 0) uv_poll_stop(poll_);
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
}

void ExitPoller::OnEpollReadable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  static_cast<ExitPoller*>(poll->data)->Dispatch();
}

// One event per epoll_wait: a handle's exit callback runs JS, which may close other
// handles (removing their pidfds) or start new ones, so a batch fetched earlier could name
// a handle that is gone. The kernel's answer after each callback is always current.
void ExitPoller::Dispatch() {
  for (int i = 0; i < kMaxExitsPerWake && epoll_fd_ >= 0; i++) {
    struct epoll_event event;
    if (epoll_wait(epoll_fd_, &event, 1, 0) != 1) return;  // drained, or EINTR: next wake
    static_cast<ProcessHandle*>(event.data.ptr)->OnPidfdReadable();
  }
}

}  // namespace pidvisor
