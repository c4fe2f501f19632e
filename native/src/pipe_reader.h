// PipeReader: the daemon's read end of a captured output pipe, read straight from the event
// loop into a buffer JS chose, with no net.Socket in between.
//
// Why not a socket: a net.Socket per captured stream cost 250-350 us of CPU per launch of a
// short-lived child (construction, stream state, readStart, EOF through the stream machinery,
// close), measured on the supervisor's launch path. Capture needs none of the stream's
// machinery: only "read what is there into this buffer, say how much, say EOF".
//
// new PipeReader(fd, onRead): takes ownership of `fd` (a pipe's read end, or a FIFO) and
// makes a uv_poll_t on it in this environment's loop (uv_poll_init sets O_NONBLOCK). libuv's
// rules (docs/src/poll.rst): one active poll handle per fd; the fd may be closed right after
// uv_poll_stop or uv_close, which take it out of the epoll set (EPOLL_CTL_DEL in
// uv__platform_invalidate_fd) and void its events still pending in this loop iteration, so a
// copy of the same pipe elsewhere (the keeper's) never reports into a closed reader.
//   setBuffer(buffer): where the next reads land (kept alive by the reader).
//   start() / stop(): watch the fd for readability or not (stop is exact: nothing more is read).
//   close(): stops, closes the handle and the fd; idempotent; also at environment teardown.
// onRead(n) after each read: n > 0 bytes at the buffer's start; 0 at EOF; -1 with an errno
// error (syscall "read") when read(2) failed. After EOF or an error the fd is no longer
// watched. One poll event reads while reads fill the buffer, at most kReadsPerWake times (as
// libuv reads a stream), and stops at once when onRead stopped or closed the reader.
#pragma once

#include <napi.h>

namespace pidvisor {

Napi::Function DefinePipeReader(Napi::Env env);

}  // namespace pidvisor
