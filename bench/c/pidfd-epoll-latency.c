// pidfd-epoll-latency SAMPLES WARMUP MAX_SECONDS STAMP_PROGRAM DELAY_US OUT_FILE: the C baseline for
// exit-detection latency. For each sample: posix_spawn the stamp program with fd 1 on
// OUT_FILE, pidfd_open it (race-free: it is our unreaped child), wait in epoll_wait for the
// pidfd to turn readable, reap it with waitid(P_PIDFD) and read CLOCK_MONOTONIC: the moment
// this parent has learned of (and reaped) the exit. Prints one latency in nanoseconds per
// line (stamp taken just before the child's _exit, to that moment); warmups are not printed.
// Stops after SAMPLES + WARMUP children or MAX_SECONDS, whichever comes first.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char** environ;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

// One child, start to reap; returns the moment the reap completed.
static int64_t run_one(int epfd, posix_spawn_file_actions_t* actions, char** argv) {
  pid_t pid;
  int err = posix_spawn(&pid, argv[0], actions, NULL, argv, environ);
  if (err != 0) {
    errno = err;
    die("posix_spawn");
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) die("pidfd_open");
  struct epoll_event event = {.events = EPOLLIN, .data.fd = pidfd};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, pidfd, &event) < 0) die("epoll_ctl");
  struct epoll_event ready;
  while (epoll_wait(epfd, &ready, 1, -1) != 1) {
    if (errno != EINTR) die("epoll_wait");
  }
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0) {
    if (errno != EINTR) die("waitid");
  }
  const int64_t learned = now_ns();
  epoll_ctl(epfd, EPOLL_CTL_DEL, pidfd, NULL);
  close(pidfd);
  return learned;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s SAMPLES WARMUP MAX_SECONDS STAMP_PROGRAM DELAY_US OUT_FILE\n", argv[0]);
    return 2;
  }
  const long samples = strtol(argv[1], NULL, 10);
  const long warmup = strtol(argv[2], NULL, 10);
  const double max_seconds = strtod(argv[3], NULL);
  char* child_argv[] = {argv[4], argv[5], NULL};
  const long total = samples + warmup;
  if (samples <= 0 || warmup < 0 || !(max_seconds > 0)) return 2;

  int out = open(argv[6], O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (out < 0 || null_fd < 0 || epfd < 0) die("setup");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, null_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, null_fd, 2);

  int64_t* learned = calloc((size_t)total, sizeof(int64_t));
  if (learned == NULL) die("calloc");
  const int64_t deadline = now_ns() + (int64_t)(max_seconds * 1e9);
  long done = 0;
  for (; done < total && now_ns() < deadline; done++) learned[done] = run_one(epfd, &actions, child_argv);

  // Children ran one at a time, so the file holds their stamps in spawn order.
  for (long i = 0; i < done; i++) {
    int64_t stamp;
    if (pread(out, &stamp, sizeof(stamp), (off_t)(i * (long)sizeof(stamp))) != (ssize_t)sizeof(stamp)) {
      fprintf(stderr, "missing stamp %ld\n", i);
      return 1;
    }
    if (i >= warmup) printf("%lld\n", (long long)(learned[i] - stamp));
  }
  return 0;
}
