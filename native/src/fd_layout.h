// Where the daemon keeps its fds, so that spawning stays cheap with thousands of children.
//
// A child created with CLONE_FILES shares our fd table, then takes a private copy of only the
// fds below the highest one its plan needs (close_range(n, ~0U, CLOSE_RANGE_UNSHARE), Linux
// 5.9), instead of the kernel copying the whole table at clone (and exec closing the
// close-on-exec copies one by one): with 10,000 pidfds that halved the spawn rate. The copy stays short only if the fds a
// plan names (fresh pipe ends, /dev/null, the caller's fds) sit low and the long-lived ones
// (one pidfd per child, the daemon's pipe ends) sit high, so the latter are moved above a
// floor as soon as they are made.
#pragma once

namespace pidvisor {

// Low enough to fit under the smallest soft RLIMIT_NOFILE in use (1024), high enough to leave
// Node's own fds and the transient ones of a spawn below it.
constexpr int kLongLivedFdFloor = 256;

// Moves fd (close-on-exec) to the lowest free number at or above kLongLivedFdFloor and
// returns the new number, closing the old one. Where that is impossible (a soft limit at or
// below the floor, or every fd above it taken) the fd stays where it is: only the spawn cost,
// never correctness, depends on it.
int MoveAboveFloor(int fd);

}  // namespace pidvisor
