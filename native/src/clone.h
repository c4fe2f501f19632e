// Creating a child the way posix_spawn does: CLONE_VM | CLONE_VFORK on a separate stack,
// plus CLONE_PIDFD so the child is named by a pidfd from its first instant.
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "owned_children.h"

namespace pidvisor {

struct ChildStack {
  void* base;
  size_t size;
};

enum class CloneMethod { kClone3, kLegacyClone };

// Runs fn(arg) in a new child sharing our memory; returns once the child has exec'd or
// exited. Returns the child's pid and stores its pidfd (O_CLOEXEC) in *pidfd, or returns
// -errno. The kernel publishes the pid in `claim` before the child runs (owned_children.h):
// the caller keeps the claim until it records the child or has reaped it. cgroup_fd >= 0 asks
// for CLONE_INTO_CGROUP (clone3 only). share_fd_table adds CLONE_FILES: fn must then unshare
// the table before it changes any fd (see fd_layout.h).
long CloneVfork(CloneMethod method, const ChildStack& stack, int cgroup_fd, bool share_fd_table,
                int (*fn)(void*), void* arg, int* pidfd, OwnedChildren::Claim& claim);

// 0 when clone3 is callable, else the errno it answers (ENOSYS or EPERM under seccomp).
int ProbeClone3();

// Fds a CLONE_FILES child keeps with close_range(n, ~0U, CLOSE_RANGE_UNSHARE): n is always a
// multiple of this. Linux 5.9 to 5.17 copied the open-fd bitmap of a partial table in whole
// bytes and the file pointers one by one, so up to 7 fds just below an unaligned n held a
// file without their open bit: never closed at exit (a leaked pipe end never sees EOF), and a
// BUG_ON when such a slot is handed out again. Fixed in 5.18 ("fs: fd tables have to be
// multiples of BITS_PER_LONG").
constexpr int kUnshareAlign = 64;

// 0 when a CLONE_FILES child can take a private copy of part of the fd table with
// close_range(CLOSE_RANGE_UNSHARE) (Linux 5.9), else the errno the child got (ENOSYS before
// 5.9, EPERM under a seccomp filter, or EPERM when the call claims success without having
// split the table). Tested in a real child: the flag must never be tried in the daemon
// itself, where it would split the calling thread's fd table from the others'.
int ProbeFdTableSharing(const ChildStack& stack);

}  // namespace pidvisor
