// The fd under a Node socket or server, to hand to the keeper (daemon/keeper-link.ts): a
// service's output pipe, the API's listening socket. Node keeps it in the libuv handle's `fd`
// property (stream_wrap's GetFD: pipes, TCP, TTYs), which the public API does not expose;
// a handle without one (closed, or a platform without fds) answers null, and the caller then
// deposits nothing rather than a wrong fd.
export function handleFd(holder: object): number | null {
  const fd = (holder as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/**
 * Stops the libuv handle under a Node socket from reading, now. pause() does not: Node goes
 * on reading into the stream's buffer until it is full (16 KiB), and a read() of the buffer
 * starts the handle again. For a hand-over (daemon/reexec.ts): what is still in the pipe
 * stays there for the next daemon. False when the socket has no handle (closed).
 */
export function stopHandleReading(socket: object): boolean {
  const handle = (socket as { _handle?: { reading?: boolean; readStop?: () => number } | null })._handle;
  if (handle === null || handle === undefined || typeof handle.readStop !== 'function') return false;
  handle.reading = false;
  handle.readStop();
  return true;
}
