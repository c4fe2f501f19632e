#include "fd_layout.h"

#include <fcntl.h>
#include <unistd.h>

namespace pidvisor {

int MoveAboveFloor(int fd) {
  if (fd >= kLongLivedFdFloor) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, kLongLivedFdFloor);
  if (moved < 0) return fd;  // EINVAL (limit <= floor) or EMFILE: keep it low
  close(fd);
  return moved;
}

}  // namespace pidvisor
