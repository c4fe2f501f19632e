// The fd under a Node socket or server, to hand to the keeper (daemon/keeper-link.ts): a
// service's output pipe, the API's listening socket. Node keeps it in the libuv handle's `fd`
// property (stream_wrap's GetFD: pipes, TCP, TTYs), which the public API does not expose;
// a handle without one (closed, or a platform without fds) answers null, and the caller then
// deposits nothing rather than a wrong fd.
export function handleFd(holder: object): number | null {
  const fd = (holder as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

