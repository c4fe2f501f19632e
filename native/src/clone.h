// Creating a child the way posix_spawn does: CLONE_VM | CLONE_VFORK on a separate stack,
// plus CLONE_PIDFD so the child is named by a pidfd from its first instant.
#pragma once

#include <stddef.h>
#include <sys/types.h>

namespace pidvisor {

struct ChildStack {
  void* base;
  size_t size;
};

enum class CloneMethod { kClone3, kLegacyClone };

// Runs fn(arg) in a new child sharing our memory; returns once the child has exec'd or
// exited. Returns the child's pid and stores its pidfd (O_CLOEXEC) in *pidfd, or returns
// -errno. cgroup_fd >= 0 asks for CLONE_INTO_CGROUP (clone3 only).
long CloneVfork(CloneMethod method, const ChildStack& stack, int cgroup_fd,
                int (*fn)(void*), void* arg, int* pidfd);

// 0 when clone3 is callable, else the errno it answers (ENOSYS or EPERM under seccomp).
int ProbeClone3();

}  // namespace pidvisor
