// exit-stamp [DELAY_US]: the child of the exit-latency benchmark. Sleeps DELAY_US (so the
// parent is idle in its event loop when the exit comes, as a supervisor usually is), then
// reads CLOCK_MONOTONIC, writes it as one little-endian int64 of nanoseconds to fd 1 and
// calls _exit at once. The parent subtracts this from the moment it learned of the exit
// (process.hrtime.bigint() in Node is CLOCK_MONOTONIC too).
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const long delay_us = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (delay_us > 0) {
    struct timespec pause = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    while (nanosleep(&pause, &pause) != 0) {
    }
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (write(1, &ns, sizeof(ns)) != (ssize_t)sizeof(ns)) _exit(1);
  _exit(0);
}
