// The pre-exec half of spawn: a plan prepared in the parent, and the code the child runs
// between clone and execve. See spawn_child.cc for the rules that code obeys.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

namespace pidvisor {

// Where a setup step failed. The child reports one of these with errno; the parent turns
// the pair into a typed error. Keep in step with kStageNames in spawn_child.cc.
enum SpawnStage : int {
  kStageNone = 0,
  kStageCgroup,
  kStageSession,
  kStageFds,
  kStageChdir,
  kStageRlimit,
  kStageSetgroups,
  kStageSetgid,
  kStageSetuid,
  kStageNoNewPrivs,
  kStagePdeathsig,
  kStageExecve,
  kStageCount,
};

const char* SpawnStageName(int stage);

// The call that failed within a stage (a stage such as `fds` makes several kinds). Keep in
// step with kSyscallNames in spawn_child.cc.
enum SpawnSyscall : int {
  kSyscallNone = 0,
  kSyscallUnshareFds,
  kSyscallOpenat,
  kSyscallWrite,
  kSyscallSetsid,
  kSyscallSetpgid,
  kSyscallTiocspgrp,
  kSyscallDupfd,
  kSyscallSetfd,
  kSyscallDup2,
  kSyscallChdir,
  kSyscallPrlimit,
  kSyscallSetgroups,
  kSyscallSetresgid,
  kSyscallSetresuid,
  kSyscallNoNewPrivs,
  kSyscallPdeathsig,
  kSyscallExecve,
  kSyscallCount,
};

const char* SpawnSyscallName(int syscall);

struct RlimitSpec {
  int resource;
  unsigned long long soft;  // RLIM_INFINITY for unlimited
  unsigned long long hard;
};

enum SessionMode : int { kSessionKeep = 0, kSessionSetsid = 1, kSessionSetpgid = 2 };

// Everything the child reads is prepared here by the parent; the child never allocates.
// Under CLONE_VM the child writes failed_stage/failed_errno into the parent's memory.
struct SpawnPlan {
  const char* const* exec_paths;  // candidates tried in order, as execvp(3) does
  size_t exec_path_count;
  char* const* argv;
  char* const* envp;
  const char* cwd;       // nullptr: keep
  long uid;              // -1: keep
  long gid;              // -1: keep
  const gid_t* groups;   // with group_count >= 0: setgroups(group_count, groups)
  long group_count;      // -1: keep
  long umask;            // -1: keep
  const RlimitSpec* rlimits;
  size_t rlimit_count;
  int session;           // SessionMode
  bool foreground_tty;   // with a new process group: make it the foreground group of the
                         // terminal that is the child's fd 0
  const int* fd_sources; // child fd i <- parent fd fd_sources[i]; -1 leaves fd i closed
  int fd_count;
  int cgroup_procs_dir_fd;  // legacy clone() path only: child joins this cgroup itself; -1 none
  int pdeathsig;         // 0: none
  pid_t parent_pid;
  bool no_new_privs;
  // The signal configuration the program starts with; bit n-1 stands for signal n. Every
  // other disposition is reset to SIG_DFL and every other signal unblocked (spawn_child.cc).
  uint64_t ignored_signals;  // start with SIG_IGN
  uint64_t blocked_signals;  // the mask at execve
  int close_fallback_limit;  // highest fd + 1 to close when close_range(2) is missing
  int unshare_fds_below;     // > 0: cloned with CLONE_FILES; first keep a private copy of
                             // fds [0, unshare_fds_below) only (fd_layout.h)

  volatile int failed_stage;
  volatile int failed_syscall;  // SpawnSyscall
  volatile int failed_errno;
};

// Maximum number of fds a plan may map; the child keeps a copy of this many ints on its stack.
constexpr int kMaxPlanFds = 1024;

// Runs in the child. Never returns: execs or _exits with status 127.
int RunSpawnChild(void* plan);

}  // namespace pidvisor
