// posix-spawn-loop MODE COUNT WARMUP MAX_SECONDS [PROGRAM]: the C baseline for spawn-and-reap
// throughput.
// MODE "seq" spawns one child and waitpid()s it before the next; "inflight:N" keeps N children
// running and reaps whichever ends first with waitpid(-1) (fine here: this process is not the
// daemon and has no other children). Every child gets /dev/null on fds 0-2, as in the Node
// loops. Each loop stops at COUNT cycles or after MAX_SECONDS, whichever comes first. Prints
// "<spawns per second> <completed> <seconds>" on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static posix_spawn_file_actions_t actions;
static char* program = "/bin/true";

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t start_child(void) {
  char* argv[] = {program, NULL};
  pid_t pid;
  int err = posix_spawn(&pid, program, &actions, NULL, argv, environ);
  if (err != 0) {
    fprintf(stderr, "posix_spawn %s: %s\n", program, strerror(err));
    exit(1);
  }
  return pid;
}

static void reap(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("waitpid");
      exit(1);
    }
  }
}

// Both loops return the number of children spawned and reaped.
static long run_sequential(long count, double deadline) {
  long done = 0;
  for (; done < count && now_seconds() < deadline; done++) reap(start_child());
  return done;
}

static long run_in_flight(long count, long width, double deadline) {
  long started = 0;
  long running = 0;
  for (; running < width && started < count; started++, running++) start_child();
  for (; running > 0; running--) {
    reap(-1);
    if (started < count && now_seconds() < deadline) {
      start_child();
      started++;
      running++;
    }
  }
  return started;
}

static long run(long count, long width, double max_seconds) {
  const double deadline = now_seconds() + max_seconds;
  return width == 1 ? run_sequential(count, deadline) : run_in_flight(count, width, deadline);
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s seq|inflight:N COUNT WARMUP MAX_SECONDS [PROGRAM]\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  const long count = strtol(argv[2], NULL, 10);
  const long warmup = strtol(argv[3], NULL, 10);
  const double max_seconds = strtod(argv[4], NULL);
  if (argc > 5) program = argv[5];
  long width = 1;
  if (strncmp(mode, "inflight:", 9) == 0) {
    width = strtol(mode + 9, NULL, 10);
  } else if (strcmp(mode, "seq") != 0) {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  if (count <= 0 || width <= 0 || warmup < 0 || !(max_seconds > 0)) return 2;

  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    perror("/dev/null");
    return 1;
  }
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd < 3; fd++) posix_spawn_file_actions_adddup2(&actions, null_fd, fd);

  if (warmup > 0) run(warmup, width, max_seconds);
  const double start = now_seconds();
  const long done = run(count, width, max_seconds);
  const double elapsed = now_seconds() - start;
  printf("%.1f %ld %.6f\n", (double)done / elapsed, done, elapsed);
  return 0;
}
