// One epoll set holding the pidfd of every watched process of a Node environment, itself
// watched by a single uv_poll_t in the event loop.
//
// A uv_poll_t per pidfd cost 176 bytes of heap and an ioctl(FIONBIO) per spawn; with 10,000
// children that is megabytes for nothing, since an exit needs no more than "this pidfd is
// readable". Each pidfd is reported once (EPOLLONESHOT): the exit is all there is to learn,
// and a reaped child's pidfd can then be closed without an EPOLL_CTL_DEL first.
#pragma once

#include <sys/epoll.h>
#include <uv.h>

#include <cstddef>

namespace pidvisor {

class ProcessHandle;

class ExitPoller {
 public:
  explicit ExitPoller(uv_loop_t* loop) : loop_(loop) {}
  ExitPoller(const ExitPoller&) = delete;
  ExitPoller& operator=(const ExitPoller&) = delete;

  // Reports pidfd readable to handle->OnPidfdReadable(), once. Keeps the event loop alive
  // until Remove or Forget. Returns 0 or an errno.
  int Add(int pidfd, ProcessHandle* handle);
  // Must come before the pidfd is closed: epoll forgets an fd only when its file is gone,
  // and a dup of it elsewhere would keep reporting a handle that may no longer exist.
  void Remove(int pidfd, ProcessHandle* handle);
  // Remove for a pidfd whose report has been delivered: the report disarmed it, and a
  // disarmed entry never reports again (it goes with its file), so no syscall is needed. This
  // is the path of every exit, where an EPOLL_CTL_DEL would only add to the latency.
  void Forget(ProcessHandle* handle);
  // At environment teardown, after every handle has been removed.
  void Close();

 private:
  static void OnEpollReadable(uv_poll_t* poll, int status, int events);
  void Dispatch();
  void Unlist(ProcessHandle* handle);

  // Exits fetched with one epoll_wait and handled one by one; at most this many per wake-up,
  // the rest wait for the next loop iteration (the set stays readable).
  static constexpr int kBatch = 32;

  uv_loop_t* loop_;
  int epoll_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  size_t watched_ = 0;
  // The batch being dispatched: entries [next_, count_) are still to be handled. Remove()
  // clears the entry of a handle that goes away meanwhile (see Dispatch).
  struct epoll_event batch_[kBatch];
  int batch_next_ = 0;
  int batch_count_ = 0;
};

}  // namespace pidvisor
