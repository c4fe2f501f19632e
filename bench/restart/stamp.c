// The supervised program of the restart bench. First thing in main (a static binary: no
// dynamic loader runs before it), it reads CLOCK_MONOTONIC, then appends "<pid> <ns>\n" to
// ./stamps in its working directory (one write(2) with O_APPEND: lines never interleave) and
// pauses until it is killed. Every supervisor runs it with its working directory set to
// that supervisor's own directory; runsv and s6-supervise exec it as ./run (a symlink),
// so no shell runs before it anywhere.
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  char line[64];
  int length = snprintf(line, sizeof line, "%ld %lld\n", (long)getpid(), (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  int fd = open("stamps", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)length) != length) return 111;
  close(fd);
  for (;;) pause();
}
