/* pidvisor-keeper: the small native process between whoever starts pidvisor (a shell, systemd,
 * a container runtime) and pidvisor's Node current. It exists so that nothing is lost when the
 * Node process dies or is still booting. `init -- COMMAND` with no service and no API needs no
 * Node at all: the keeper is then the whole init, as tini is (see "Native init" below; built a
 * second time as pidvisor-init, which is `pidvisor-keeper init` for a container's entry point).
 * Otherwise:
 *
 *   - Signals are blocked from main's first statement and read from a signalfd, so a SIGTERM
 *     sent while Node boots (65-120 ms) is not dropped (as PID 1, the kernel drops a signal
 *     with no handler unless it is blocked) and does not kill a half-started process: the
 *     keeper holds it until the daemon's handlers exist (READY).
 *   - It is PID 1 (init mode in a PID namespace) or a child subreaper, so when the daemon dies
 *     its services become the keeper's children, not the real init's.
 *   - It holds an fd store (pidfds, output pipes, listening sockets) that the daemon deposits
 *     over a SOCK_SEQPACKET socketpair, and hands every fd to each daemon it starts.
 *   - It reaps only its own children, keeps the exact status, CPU time and time of the ones the
 *     daemon deposited a pidfd for, and reports them until a daemon acknowledges them.
 *   - It restarts a daemon that died while the keeper holds something for the next one (20 ms,
 *     then doubling up to 5 s), and exits with the daemon's status when the daemon says it
 *     stops on purpose (STOPPING) or left nothing to take over.
 *   - On REEXEC (an upgrade) it re-executes the binary at its path in the same process once the
 *     daemon has exited, its tables passed through a memfd in a versioned format (a binary that
 *     cannot read it goes back to this one), its fds and children kept; signals that come while
 *     the daemon hands over (HANDING_OVER) are held for the next daemon.
 *
 * It is the trusted base (like PID 1): one file, no allocation after start-up (every table is
 * static and bounded), one thread, and every message from the daemon is validated; a message
 * that is wrong in any way is counted, logged and dropped, never fatal.
 *
 * Usage (see usage()):
 *   pidvisor-keeper [--node PATH] [--script PATH] [--node-option OPT]... [--no-inherited-signals] daemon|init [ARGS...]
 * starts `PATH [OPT...] SCRIPT daemon|init ARGS...` as its daemon, with its end of the channel
 * as fd 3 (PIDVISOR_KEEPER_FD=3). Signals for the daemon are held until it says READY: Node
 * clears its signal mask as it starts, so nothing may reach it before its handlers exist.
 *
 * Message format: protocol.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define PIDFS_MAGIC 0x50494446 /* fstatfs of a pidfd on pidfs (Linux 6.9) */

#define ARGV_MAX 4096
#define ENV_MAX 4096
#define NODE_OPTIONS_MAX 64
#define RESTART_FIRST_MS 20
#define RESTART_MAX_MS 5000
#define RESTART_RESET_AFTER_MS 10000 /* a daemon ready this long has "worked": start over at 20 ms */
#define RECEIVE_BATCH 64             /* messages read per wake-up, so signals are not starved */
#define REAP_BATCH 4096              /* children reaped per SIGCHLD before looking at the rest */
#define FDS_PER_MESSAGE_MAX 8        /* more than any message may carry: extra ones are counted */

extern char **environ;

/* ---- Start-up configuration (filled once; never freed, never reallocated) ---- */

static int init_mode;                     /* `init` rather than `daemon` */
static int parent_death_signal;           /* init -p SIGNAL: it concerns the keeper, the process the runtime started */
static int no_subreaper;                  /* init --no-subreaper */
static char node_path[PATH_MAX];
static char script_path[PATH_MAX];
static char self_path[PATH_MAX];          /* this executable, resolved at start: REEXEC runs what is there then */
static char **original_argv;              /* REEXEC passes them on unchanged */
static int restore_fd = -1;               /* --restore FD[,EXE]: the state a previous keeper serialised */
static int previous_keeper_fd = -1;       /* --restore FD,EXE: that keeper's executable, to go back to (restore_state) */
static char *daemon_argv[ARGV_MAX];
static char *daemon_env[ENV_MAX];
static char env_fd[64];
static char env_signals[96];
static uint64_t inherited_blocked, inherited_ignored; /* bit n-1 for signal n: what the runtime started us with */
static int native_init;                   /* init that needs no Node: the keeper runs the main command itself */
static int log_threshold = 40;            /* pino levels: 30 info, 40 warn, 50 error */
static struct sockaddr_un notify_address; /* $NOTIFY_SOCKET (systemd Type=notify); sun_path empty: none */
static socklen_t notify_address_length;

/* ---- The fd store ---- */

struct stored_fd {
  uint64_t key;
  uint64_t inode;           /* PIDFD entries on pidfs: fstat(pidfd).st_ino; 0 otherwise */
  int fd;
  pid_t pid;                /* PIDFD entries: the process, from /proc/self/fdinfo */
  uint32_t sent_generation; /* the daemon generation this entry was last handed to */
  uint32_t record_offset;   /* in record_arena */
  uint16_t record_length;
  uint8_t kind;
};
static struct stored_fd store[PVK_STORE_MAX];
static uint32_t store_count;
/* Records packed end to end, in no particular order: a fixed 512-byte slot per entry would
 * make 1,000 entries cost 500 KiB of resident memory for records that are mostly a few dozen
 * bytes. Untouched pages of this array are never resident. */
static unsigned char record_arena[PVK_STORE_MAX * PVK_RECORD_MAX];
static uint32_t arena_used;

/* ---- Exits of deposited children, until a daemon acknowledges them ---- */

struct exit_record {
  uint64_t id;
  pid_t pid;
  int32_t code, status; /* waitid's si_code and si_status */
  uint64_t inode, utime_us, stime_us, realtime_ns;
  uint32_t sent_generation;
};
static struct exit_record exits[PVK_EXITS_MAX];
static uint32_t exits_count;
static uint64_t next_exit_id = 1;

/* ---- The current daemon ---- */

enum phase { SENDING_ITEMS, SENDING_EXITS, LIVE };
static struct {
  pid_t pid;            /* 0: none runs */
  int channel;          /* the keeper's end, -1 when closed */
  uint32_t generation;  /* 1 for the first daemon */
  int ready, stopping;  /* READY and STOPPING received */
  int reexec;           /* REEXEC received: re-execute once this daemon has exited */
  int handing_over;     /* HANDING_OVER or REEXEC received: its signals are held for the next daemon */
  enum phase phase;
  uint32_t next_item, next_exit, items_sent, exits_sent;
  int want_write;       /* the socket was full: poll for POLLOUT */
  int64_t started_ms, ready_ms;
} current = {.channel = -1};

static int stop_signal;          /* SIGTERM/SIGINT received: the stop in progress */
static int restart_delay_ms = RESTART_FIRST_MS;
static int64_t restart_at_ms = -1; /* monotonic; -1: no restart pending */
/* Signals held until the daemon is READY. Node clears the signal mask it inherits and resets
 * every disposition as it starts (measured with Node 20.20: SigBlk is 0 before any JS runs),
 * so a signal passed on before the daemon's handlers exist would act by default: SIGTERM would
 * kill it half-started, SIGUSR1 would open its inspector. The keeper holds them and passes them
 * on once the daemon says READY (after installing its handlers). A second SIGTERM or SIGINT
 * before then goes at once: whoever sends it insists, as on a daemon that hangs while starting. */
static uint64_t held_signals; /* bit n-1 for signal n */
static uint64_t malformed_count;
static uint64_t orphans_reaped;

/* ---- Small helpers ---- */

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One JSON line on stderr, shaped as pino's (level, time, pid, msg) so that the daemon's log
 * and the keeper's read alike. `fields` continues the object: ,"key":value... */
__attribute__((format(printf, 3, 4))) static void log_line(int level, const char *msg, const char *fields, ...) {
  if (level < log_threshold) return;
  static char line[1024];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int n = snprintf(line, sizeof line, "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"name\":\"pidvisor-keeper\",\"msg\":\"%s\"", level,
                   (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000, (int)getpid(), msg);
  if (n < 0 || (size_t)n >= sizeof line) return;
  va_list args;
  va_start(args, fields);
  int m = vsnprintf(line + n, sizeof line - (size_t)n, fields, args);
  va_end(args);
  if (m < 0 || (size_t)(n + m) >= sizeof line - 2) return;
  n += m;
  line[n++] = '}';
  line[n++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
  (void)ignored;
}

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(unsigned char *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* ---- Start-up: arguments, paths, environment ---- */

#ifndef PVK_INIT_ENTRY
static void usage(FILE *to) {
  fputs("Usage: pidvisor-keeper [--node PATH] [--script PATH] [--node-option OPT]... [--no-inherited-signals] daemon|init [ARGS...]\n"
        "\n"
        "Starts `PATH [OPT...] SCRIPT daemon|init ARGS...` (pidvisor's Node daemon) as its child and\n"
        "keeps it: signals are blocked from the first instruction and forwarded once it runs, its fds\n"
        "are kept across its death, a daemon that dies is restarted. `pidvisor daemon` and\n"
        "`pidvisor init` exec into it. `init -- COMMAND` with no service and no API (no --config,\n"
        "--socket, --forward-to cgroup) starts no Node: the keeper is the init. As a container's\n"
        "entry point, use pidvisor-init (the same as `pidvisor-keeper init`):\n"
        "  ENTRYPOINT [\"/app/node_modules/pidvisor/build/Release/pidvisor-init\", \"--\"]\n"
        "\n"
        "  --node PATH         the node executable (default: $PIDVISOR_NODE, else `node` in $PATH)\n"
        "  --script PATH       pidvisor's CLI (default: dist/bin/pidvisor.js of this installation)\n"
        "  --node-option OPT   an option for node itself (repeatable)\n"
        "  --no-inherited-signals\n"
        "                      do not pass on the ignored and blocked signals found at start (set\n"
        "                      by `pidvisor daemon|init`, whose Node has already changed them)\n",
        to);
}
#endif

static void fail_setup(const char *what, int err) {
  fprintf(stderr, "pidvisor-keeper: %s: %s\n", what, strerror(err));
  exit(1);
}

static void copy_path(char *to, const char *from, const char *what) {
  if (strlen(from) >= PATH_MAX) {
    fprintf(stderr, "pidvisor-keeper: %s is too long\n", what);
    exit(2);
  }
  strcpy(to, from);
}

/* `node` in $PATH, as a shell would find it. */
static int find_node(void) {
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  while (*path != '\0') {
    const char *end = strchrnul(path, ':');
    int n = snprintf(node_path, sizeof node_path, "%.*s/node", (int)(end - path), path);
    if (n > 0 && (size_t)n < sizeof node_path && end != path && access(node_path, X_OK) == 0) return 0;
    path = *end == ':' ? end + 1 : end;
  }
  return -1;
}

/* This executable's path: where a REEXEC finds the new binary. A keeper that went back to the
 * binary it replaced (restore_state) runs a file no longer on disk, "PATH (deleted)": PATH, where
 * the upgrade put the new one, is still where the next REEXEC should look. */
static void find_self_path(void) {
  if (realpath("/proc/self/exe", self_path) != NULL) return;
  const ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0) fail_setup("readlink(/proc/self/exe)", errno);
  self_path[n] = '\0';
  const size_t suffix = strlen(" (deleted)");
  if ((size_t)n > suffix && strcmp(self_path + n - suffix, " (deleted)") == 0) self_path[n - suffix] = '\0';
}

/* dist/bin/pidvisor.js of the installation this executable belongs to: it is built into
 * build/Release/ of the package. */
static int find_script(void) {
  char self[PATH_MAX];
  memcpy(self, self_path, sizeof self);
  char *slash = strrchr(self, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  int n = snprintf(script_path, sizeof script_path, "%s/../../dist/bin/pidvisor.js", self);
  return n > 0 && (size_t)n < sizeof script_path && access(script_path, R_OK) == 0 ? 0 : -1;
}

/* A signal by name (TERM, SIGTERM, any case) or number, as `init -p` takes it; 0 if none. */
static int signal_number(const char *name) {
  static const struct {
    const char *name;
    int number;
  } names[] = {{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
               {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
               {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
               {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
               {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO}, {"PWR", SIGPWR},
               {"SYS", SIGSYS}};
  char *end;
  long number = strtol(name, &end, 10);
  if (*name != '\0' && *end == '\0') return number > 0 && number < NSIG ? (int)number : 0;
  if (strncasecmp(name, "SIG", 3) == 0) name += 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(name, names[i].name) == 0) return names[i].number;
  return 0;
}

/* The two options of `pidvisor init` that concern the process the runtime started, which is
 * now the keeper: -p/--parent-death-signal and --no-subreaper. The rest is the daemon's to
 * parse (and to refuse: a bad -p value is reported by it as a usage error). */
static void read_init_options(int argc, char **argv, int first) {
  for (int i = first; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *arg = argv[i];
    const char *value = NULL;
    if (strcmp(arg, "--no-subreaper") == 0) no_subreaper = 1;
    else if (strncmp(arg, "--parent-death-signal=", 22) == 0) value = arg + 22;
    else if (strcmp(arg, "--parent-death-signal") == 0 || (arg[0] == '-' && arg[1] != '-' && arg[strlen(arg) - 1] == 'p' && strspn(arg + 1, "gvp") == strlen(arg + 1)))
      value = i + 1 < argc ? argv[++i] : NULL;
    if (value != NULL) parent_death_signal = signal_number(value);
  }
}

static int parse_native_init(int argc, char **argv, int first);

static void parse_arguments(int argc, char **argv) {
  const char *node_options[NODE_OPTIONS_MAX];
  int node_option_count = 0;
  int i = 1;
  original_argv = argv;
  if (i + 1 < argc && strcmp(argv[i], "--restore") == 0) {
    /* "STATE,EXE" (reexecute): a keeper from before EXE was passed reads STATE with atoi. */
    char *comma;
    restore_fd = (int)strtol(argv[i + 1], &comma, 10);
    if (*comma == ',') previous_keeper_fd = atoi(comma + 1);
    original_argv = argv + 2; /* argv[2] stands for argv[0]: the options follow it */
    i += 2;
  }
#ifdef PVK_INIT_ENTRY
  /* pidvisor-init ARGS is `pidvisor-keeper init ARGS`; it takes no keeper option (they would
   * shadow init's own): node comes from $PIDVISOR_NODE or $PATH, the script from beside it. */
  init_mode = 1;
#else
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(argv[i], "--no-inherited-signals") == 0) {
      /* Exec'd by pidvisor's Node CLI, which reset every disposition and blocked every signal
       * for the exec: what the keeper found is Node's, not what the user started it with. */
      env_signals[0] = '\0';
      inherited_blocked = inherited_ignored = 0;
      continue;
    }
    if (i + 1 >= argc) break;
    if (strcmp(argv[i], "--node") == 0) {
      copy_path(node_path, argv[++i], "--node");
    } else if (strcmp(argv[i], "--script") == 0) {
      copy_path(script_path, argv[++i], "--script");
    } else if (strcmp(argv[i], "--node-option") == 0 && node_option_count < NODE_OPTIONS_MAX) {
      node_options[node_option_count++] = argv[++i];
    } else {
      break;
    }
  }
  if (i >= argc || (strcmp(argv[i], "daemon") != 0 && strcmp(argv[i], "init") != 0)) {
    fprintf(stderr, "pidvisor-keeper: expected `daemon` or `init`%s%s\n\n", i < argc ? ", not " : "", i < argc ? argv[i] : "");
    usage(stderr);
    exit(2);
  }
  init_mode = strcmp(argv[i++], "init") == 0;
#endif
  if (init_mode) {
    read_init_options(argc, argv, i);
    /* Nothing asks for Node (no service, no API): the keeper is the whole init, as tini is. */
    native_init = parse_native_init(argc, argv, i);
    if (native_init) return;
  }
  if (node_path[0] == '\0') {
    const char *from_env = getenv("PIDVISOR_NODE");
    if (from_env != NULL && from_env[0] != '\0') copy_path(node_path, from_env, "$PIDVISOR_NODE");
    else if (find_node() < 0) {
      fputs("pidvisor-keeper: no `node` in $PATH (set $PIDVISOR_NODE or --node)\n", stderr);
      exit(1);
    }
  }
  if (script_path[0] == '\0' && find_script() < 0) {
    fputs("pidvisor-keeper: cannot find dist/bin/pidvisor.js beside this executable (use --script)\n", stderr);
    exit(1);
  }
  int n = 0;
  if (1 + node_option_count + 2 + (argc - i) + 1 > ARGV_MAX) {
    fputs("pidvisor-keeper: too many arguments\n", stderr);
    exit(2);
  }
  daemon_argv[n++] = node_path;
  for (int k = 0; k < node_option_count; k++) daemon_argv[n++] = (char *)node_options[k];
  daemon_argv[n++] = script_path;
  daemon_argv[n++] = init_mode ? "init" : "daemon";
  for (; i < argc; i++) daemon_argv[n++] = argv[i];
  daemon_argv[n] = NULL;
}

/* The inherited signal configuration, as /proc/<pid>/status shows it (bit n-1 for signal n):
 * the daemon restores it for init's main command, as tini does for its child. */
static void remember_inherited_signals(const sigset_t *blocked) {
  uint64_t blocked_bits = 0, ignored_bits = 0;
  for (int sig = 1; sig < 65 && sig < NSIG; sig++) {
    struct sigaction action;
    if (sigismember(blocked, sig) == 1) blocked_bits |= 1ull << (sig - 1);
    if (sigaction(sig, NULL, &action) == 0 && action.sa_handler == SIG_IGN) ignored_bits |= 1ull << (sig - 1);
  }
  inherited_blocked = blocked_bits;
  inherited_ignored = ignored_bits;
  snprintf(env_signals, sizeof env_signals, "%s=blocked:%016llx,ignored:%016llx", PVK_ENV_INHERITED_SIGNALS,
           (unsigned long long)blocked_bits, (unsigned long long)ignored_bits);
}

/* The keeper's own dispositions back to default: SIGCHLD ignored (inherited) would make the
 * kernel reap children itself, and every other signal is read from the signalfd anyway (a
 * blocked signal is queued even when ignored or when we are PID 1). */
static void reset_dispositions(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &action, NULL); /* EINVAL for KILL, STOP, 32, 33 */
}

/* systemd's notification socket (sd_notify(3)): "/path" or "@abstract". The keeper is the
 * unit's main process, so it is the one that says READY=1 (once the daemon is READY, i.e.
 * serving) and STOPPING=1; the daemon and its services never see the variable, so no
 * service can speak for the unit (services get a socket of their own from pidvisor). */
static void take_notify_socket(const char *value) {
  size_t length = strlen(value);
  if ((value[0] != '/' && value[0] != '@') || length < 2 || length >= sizeof notify_address.sun_path) {
    log_line(40, "NOTIFY_SOCKET ignored: not an absolute path or @abstract name that fits sun_path", "%s", "");
    return;
  }
  notify_address.sun_family = AF_UNIX;
  memcpy(notify_address.sun_path, value, length);
  if (value[0] == '@') notify_address.sun_path[0] = '\0';
  notify_address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
}

/* One datagram to systemd; never blocks the keeper (a full queue loses it, and says so). */
static void notify_systemd(const char *state) {
  if (notify_address_length == 0) return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&notify_address, notify_address_length) < 0) {
    log_line(40, "cannot notify systemd", ",\"state\":\"%s\",\"errno\":%d", state, errno);
  }
  if (fd >= 0) close(fd);
}

static void build_environment(void) {
  size_t n = 0;
  size_t fd_prefix = strlen(PVK_ENV_FD) + 1, signals_prefix = strlen(PVK_ENV_INHERITED_SIGNALS) + 1;
  for (char **e = environ; *e != NULL; e++) {
    /* A keeper started by a daemon's service must not pass the outer keeper's values on. */
    if ((strncmp(*e, PVK_ENV_FD "=", fd_prefix) == 0) || strncmp(*e, PVK_ENV_INHERITED_SIGNALS "=", signals_prefix) == 0) continue;
    if (strncmp(*e, "NOTIFY_SOCKET=", 14) == 0) {
      take_notify_socket(*e + 14);
      continue;
    }
    if (n + 3 >= ENV_MAX) {
      fputs("pidvisor-keeper: too many environment variables\n", stderr);
      exit(2);
    }
    daemon_env[n++] = *e;
  }
  snprintf(env_fd, sizeof env_fd, "%s=%d", PVK_ENV_FD, PVK_DAEMON_FD);
  daemon_env[n++] = env_fd;
  if (env_signals[0] != '\0') daemon_env[n++] = env_signals;
  daemon_env[n] = NULL;
}

/* pino's level names, as the daemon reads PIDVISOR_LOG_LEVEL (init -v, read later, lowers it to debug). */
static void read_log_level(void) {
  const char *level = getenv("PIDVISOR_LOG_LEVEL");
  if (level == NULL) return;
  if (strcmp(level, "info") == 0) log_threshold = 30;
  else if (strcmp(level, "debug") == 0 || strcmp(level, "trace") == 0) log_threshold = 20;
}

/* Thousands of stored fds: the soft RLIMIT_NOFILE is often 1024. */
static void raise_fd_limit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

static void release_held_signals(void);
static void hand_over(uint64_t signals);
static int is_forwarded(int sig);

/* ---- Messages to the daemon ---- */

/* 0 when sent; EAGAIN when the socket is full (poll for POLLOUT and send it again); another
 * errno when the daemon's end is gone (its exit comes as SIGCHLD). */
static int send_message(uint16_t type, const unsigned char *body, uint32_t length, int fd) {
  static unsigned char message[PVK_MESSAGE_MAX];
  put32(message + PVK_HEADER_MAGIC, PVK_MAGIC);
  put16(message + PVK_HEADER_VERSION, PVK_VERSION);
  put16(message + PVK_HEADER_TYPE, type);
  put32(message + PVK_HEADER_BODY_LENGTH, length);
  memcpy(message + PVK_HEADER_SIZE, body, length);
  struct iovec iov = {.iov_base = message, .iov_len = PVK_HEADER_SIZE + length};
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    header.msg_control = control.buffer;
    header.msg_controllen = sizeof control.buffer;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  }
  for (;;) {
    if (sendmsg(current.channel, &header, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

static int send_item(const struct stored_fd *entry) {
  static unsigned char body[PVK_ENTRY_RECORD + PVK_RECORD_MAX];
  put64(body + PVK_ENTRY_KEY, entry->key);
  body[PVK_ENTRY_KIND] = entry->kind;
  body[PVK_ENTRY_RESERVED] = 0;
  put16(body + PVK_ENTRY_RECORD_LENGTH, entry->record_length);
  memcpy(body + PVK_ENTRY_RECORD, record_arena + entry->record_offset, entry->record_length);
  return send_message(PVK_INVENTORY_ITEM, body, PVK_ENTRY_RECORD + entry->record_length, entry->fd);
}

/* An exit as the EXIT message's body: also its form in the state handed to a new keeper. */
static void encode_exit(unsigned char *body, const struct exit_record *record) {
  put64(body + PVK_EXIT_ID, record->id);
  put32(body + PVK_EXIT_PID, (uint32_t)record->pid);
  put32(body + PVK_EXIT_SI_CODE, (uint32_t)record->code);
  put32(body + PVK_EXIT_SI_STATUS, (uint32_t)record->status);
  put32(body + PVK_EXIT_RESERVED, 0);
  put64(body + PVK_EXIT_PIDFS_INODE, record->inode);
  put64(body + PVK_EXIT_UTIME_US, record->utime_us);
  put64(body + PVK_EXIT_STIME_US, record->stime_us);
  put64(body + PVK_EXIT_REALTIME_NS, record->realtime_ns);
}

static void decode_exit(const unsigned char *body, struct exit_record *record) {
  *record = (struct exit_record){.id = get64(body + PVK_EXIT_ID), .pid = (pid_t)get32(body + PVK_EXIT_PID), .code = (int32_t)get32(body + PVK_EXIT_SI_CODE),
                                 .status = (int32_t)get32(body + PVK_EXIT_SI_STATUS), .inode = get64(body + PVK_EXIT_PIDFS_INODE),
                                 .utime_us = get64(body + PVK_EXIT_UTIME_US), .stime_us = get64(body + PVK_EXIT_STIME_US),
                                 .realtime_ns = get64(body + PVK_EXIT_REALTIME_NS)};
}

static int send_exit(const struct exit_record *record) {
  unsigned char body[PVK_EXIT_SIZE];
  encode_exit(body, record);
  return send_message(PVK_EXIT, body, PVK_EXIT_SIZE, -1);
}

static void send_error(uint16_t about_type, int err, uint64_t key) {
  unsigned char body[PVK_ERROR_SIZE] = {0};
  put16(body + PVK_ERROR_ABOUT_TYPE, about_type);
  put32(body + PVK_ERROR_ERRNO, (uint32_t)err);
  put64(body + PVK_ERROR_KEY, key);
  /* A reply that does not fit now is dropped: the daemon learns nothing it could act on later. */
  if (send_message(PVK_ERROR, body, PVK_ERROR_SIZE, -1) != 0) log_line(40, "a refusal could not be sent to the daemon", ",\"about\":%u,\"errno\":%d", about_type, err);
}

static void close_channel(void) {
  if (current.channel >= 0) close(current.channel);
  current.channel = -1;
  current.want_write = 0;
}

/* Hands the current daemon what it has not had yet: every stored fd, then every unacknowledged
 * exit, then INVENTORY_END; after that, each new exit as it happens. Entries carry the
 * generation they were sent to, so an fd deposited or withdrawn meanwhile is neither missed nor
 * sent twice. */
static void pump(void) {
  current.want_write = 0;
  while (current.channel >= 0) {
    int err = 0;
    if (current.phase == SENDING_ITEMS) {
      uint32_t i = current.next_item;
      while (i < store_count && store[i].sent_generation == current.generation) i++;
      if (i == store_count) {
        current.phase = SENDING_EXITS;
        current.next_exit = 0;
        continue;
      }
      if ((err = send_item(&store[i])) == 0) {
        store[i].sent_generation = current.generation;
        current.items_sent++;
        current.next_item = i + 1;
        continue;
      }
    } else {
      uint32_t i = current.next_exit;
      while (i < exits_count && exits[i].sent_generation == current.generation) i++;
      if (i < exits_count) {
        if ((err = send_exit(&exits[i])) == 0) {
          exits[i].sent_generation = current.generation;
          if (current.phase == SENDING_EXITS) current.exits_sent++;
          current.next_exit = i + 1;
          continue;
        }
      } else if (current.phase == SENDING_EXITS) {
        unsigned char body[PVK_END_SIZE];
        put32(body + PVK_END_ITEMS, current.items_sent);
        put32(body + PVK_END_EXITS, current.exits_sent);
        if ((err = send_message(PVK_INVENTORY_END, body, PVK_END_SIZE, -1)) == 0) {
          current.phase = LIVE;
          continue;
        }
      } else {
        return;
      }
    }
    if (err == EAGAIN || err == ENOBUFS) {
      current.want_write = 1;
    } else {
      log_line(40, "the daemon's end of the channel is gone", ",\"errno\":%d", err);
      close_channel();
    }
    return;
  }
}

/* ---- The fd store ---- */

static struct stored_fd *find_stored(uint64_t key) {
  for (uint32_t i = 0; i < store_count; i++)
    if (store[i].key == key) return &store[i];
  return NULL;
}

/* Closes the gap a record leaves in the arena: O(entries), as is every lookup here. */
static void release_record(const struct stored_fd *entry) {
  const uint32_t end = entry->record_offset + entry->record_length;
  memmove(record_arena + entry->record_offset, record_arena + end, arena_used - end);
  arena_used -= entry->record_length;
  for (uint32_t k = 0; k < store_count; k++)
    if (store[k].record_offset >= end) store[k].record_offset -= entry->record_length;
}

static void forget_stored(uint32_t i) {
  close(store[i].fd);
  release_record(&store[i]);
  store[i] = store[--store_count];
  if (i < current.next_item) current.next_item = i; /* the moved entry may not have been sent yet */
}

/* The process a pidfd refers to, from /proc/self/fdinfo ("Pid:\t123"); -1 if it is none. */
static pid_t pid_of_pidfd(int fd) {
  static char path[64], text[2048];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  int info = open(path, O_RDONLY | O_CLOEXEC);
  if (info < 0) return -1;
  ssize_t n = read(info, text, sizeof text - 1);
  close(info);
  if (n <= 0) return -1;
  text[n] = '\0';
  const char *line = strstr(text, "\nPid:\t");
  return line == NULL ? -1 : (pid_t)strtol(line + 6, NULL, 10);
}

static void deposit(uint64_t key, uint8_t kind, const unsigned char *record, uint16_t record_length, int fd) {
  pid_t pid = 0;
  uint64_t inode = 0;
  if (kind == PVK_KIND_PIDFD) {
    pid = pid_of_pidfd(fd);
    if (pid <= 0) {
      /* Not a pidfd, or one of a process already reaped (Pid: -1). */
      close(fd);
      send_error(PVK_DEPOSIT, EBADF, key);
      return;
    }
    struct statfs fs;
    struct stat st;
    /* Before pidfs (6.9) every pidfd shares one anonymous inode: no identity to report. */
    if (fstatfs(fd, &fs) == 0 && fs.f_type == PIDFS_MAGIC && fstat(fd, &st) == 0) inode = st.st_ino;
  }
  struct stored_fd *entry = find_stored(key);
  if (entry == NULL) {
    if (store_count == PVK_STORE_MAX) {
      close(fd);
      log_line(40, "the fd store is full: deposit refused", ",\"key\":%llu,\"max\":%u", (unsigned long long)key, PVK_STORE_MAX);
      send_error(PVK_DEPOSIT, ENOSPC, key);
      return;
    }
    entry = &store[store_count++];
  } else {
    close(entry->fd); /* a known key is replaced: a retried deposit does not leak */
    release_record(entry);
  }
  entry->key = key;
  entry->fd = fd;
  entry->kind = kind;
  entry->record_length = record_length;
  entry->pid = pid;
  entry->inode = inode;
  /* The daemon that deposited it has it: it is not part of that daemon's inventory. */
  entry->sent_generation = current.generation;
  entry->record_offset = arena_used;
  memcpy(record_arena + arena_used, record, record_length);
  arena_used += record_length;
}

static void withdraw(uint64_t key) {
  struct stored_fd *entry = find_stored(key);
  if (entry == NULL) {
    send_error(PVK_WITHDRAW, ENOENT, key);
    return;
  }
  forget_stored((uint32_t)(entry - store));
}

static void acknowledge_exit(uint64_t id) {
  for (uint32_t i = 0; i < exits_count; i++) {
    if (exits[i].id != id) continue;
    memmove(&exits[i], &exits[i + 1], (exits_count - i - 1) * sizeof exits[0]);
    exits_count--;
    if (i < current.next_exit) current.next_exit--;
    return;
  }
  send_error(PVK_EXIT_ACK, ENOENT, id);
}

/* ---- Messages from the daemon ---- */

/* Acts on one message; returns why it is malformed, or NULL. An fd is consumed only by a
 * DEPOSIT that is well formed; the caller closes every fd of a malformed message. */
static const char *handle_message(const unsigned char *m, size_t n, int flags, const int *fds, int fd_count) {
  if (flags & MSG_TRUNC) return "longer than the largest message";
  if (flags & MSG_CTRUNC) return "more fds than a message carries";
  if (n < PVK_HEADER_SIZE) return "shorter than a header";
  if (get32(m + PVK_HEADER_MAGIC) != PVK_MAGIC) return "bad magic";
  if (get16(m + PVK_HEADER_VERSION) != PVK_VERSION) return "unknown version";
  const uint32_t length = get32(m + PVK_HEADER_BODY_LENGTH);
  if (length != n - PVK_HEADER_SIZE) return "body length does not match the message";
  const unsigned char *body = m + PVK_HEADER_SIZE;
  const uint16_t type = get16(m + PVK_HEADER_TYPE);
  if (type == PVK_DEPOSIT) {
    if (fd_count != 1) return "a deposit carries exactly one fd";
    if (length < PVK_ENTRY_RECORD) return "deposit shorter than its fixed part";
    const uint8_t kind = body[PVK_ENTRY_KIND];
    const uint16_t record_length = get16(body + PVK_ENTRY_RECORD_LENGTH);
    if (kind < PVK_KIND_PIDFD || kind > PVK_KIND_LISTENER) return "unknown fd kind";
    if (body[PVK_ENTRY_RESERVED] != 0) return "reserved byte not zero";
    if (record_length > PVK_RECORD_MAX || length != PVK_ENTRY_RECORD + record_length) return "record length does not match the body";
    deposit(get64(body + PVK_ENTRY_KEY), kind, body + PVK_ENTRY_RECORD, record_length, fds[0]);
    return NULL;
  }
  if (fd_count != 0) return "an fd on a message that carries none";
  switch (type) {
    case PVK_WITHDRAW:
    case PVK_EXIT_ACK:
    case PVK_HANDING_OVER:
      if (length != PVK_KEY_BODY_SIZE) return "body is not one u64";
      if (type == PVK_WITHDRAW) withdraw(get64(body));
      else if (type == PVK_EXIT_ACK) acknowledge_exit(get64(body));
      else hand_over(get64(body));
      return NULL;
    case PVK_READY:
    case PVK_STOPPING:
    case PVK_REEXEC:
      if (length != 0) return "body not empty";
      if (type == PVK_STOPPING) {
        current.stopping = 1;
        notify_systemd("STOPPING=1");
      } else if (type == PVK_REEXEC) {
        current.reexec = 1;
        current.handing_over = 1; /* if HANDING_OVER did not come (an older daemon): from now on at least */
      } else if (!current.ready) {
        current.ready = 1;
        release_held_signals();
        current.ready_ms = monotonic_ms();
        log_line(30, "the daemon is ready", ",\"daemon\":%d,\"generation\":%u,\"startMs\":%lld", (int)current.pid, current.generation,
                 (long long)(current.ready_ms - current.started_ms));
        notify_systemd("READY=1"); /* again after a restart: systemd ignores a repeat */
      }
      return NULL;
    default:
      return "unknown type";
  }
}

/* Returns how many messages it read (at most RECEIVE_BATCH). */
static int receive_messages(int hung_up) {
  static unsigned char message[PVK_MESSAGE_MAX + 1];
  union {
    char buffer[CMSG_SPACE(sizeof(int) * FDS_PER_MESSAGE_MAX)];
    struct cmsghdr align;
  } control;
  int count = 0;
  for (; count < RECEIVE_BATCH && current.channel >= 0; count++) {
    struct iovec iov = {.iov_base = message, .iov_len = sizeof message};
    struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
    ssize_t n = recvmsg(current.channel, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) close_channel();
      return count;
    }
    int fds[FDS_PER_MESSAGE_MAX], fd_count = 0, other_control = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&header); c != NULL; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
        other_control = 1;
        continue;
      }
      int in_this = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int k = 0; k < in_this && fd_count < FDS_PER_MESSAGE_MAX; k++) memcpy(&fds[fd_count++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
    }
    /* SEQPACKET reads an empty message and the end of the stream alike: poll tells them apart. */
    if (n == 0 && fd_count == 0 && hung_up) {
      close_channel();
      return count;
    }
    const char *wrong = other_control ? "control data other than fds" : handle_message(message, (size_t)n, header.msg_flags, fds, fd_count);
    if (wrong != NULL) {
      for (int k = 0; k < fd_count; k++) close(fds[k]);
      malformed_count++;
      log_line(40, "dropped a malformed message from the daemon", ",\"reason\":\"%s\",\"bytes\":%zd,\"fds\":%d,\"malformed\":%llu", wrong, n,
               fd_count, (unsigned long long)malformed_count);
    }
  }
  return count;
}

/* ---- The daemon's life ---- */

static __attribute__((noreturn)) void exec_daemon(int channel) {
  /* In the child: fd 3 is the channel (dup2 clears CLOEXEC; if it already is fd 3, clear it). */
  if (channel == PVK_DAEMON_FD ? fcntl(channel, F_SETFD, 0) < 0 : dup2(channel, PVK_DAEMON_FD) < 0) _exit(127);
  /* The daemon starts with an empty mask, as from a shell (Node would clear it anyway): the
   * keeper sends it nothing before READY, so nothing arrives before its handlers exist. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(daemon_argv[0], daemon_argv, daemon_env);
  int err = errno;
  static char line[PATH_MAX + 128];
  int n = snprintf(line, sizeof line, "pidvisor-keeper: cannot run %s: %s\n", daemon_argv[0], strerror(err));
  if (n > 0) {
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)ignored;
  }
  _exit(err == ENOENT ? 127 : 126);
}

static void schedule_restart(int delay_ms) {
  restart_at_ms = monotonic_ms() + delay_ms;
}

static void start_daemon(void) {
  restart_at_ms = -1;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
    log_line(50, "cannot make the daemon's channel; trying again", ",\"errno\":%d,\"delayMs\":%d", errno, restart_delay_ms);
    schedule_restart(restart_delay_ms);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) exec_daemon(pair[1]);
  int err = errno;
  close(pair[1]);
  if (pid < 0) {
    close(pair[0]);
    log_line(50, "cannot fork the daemon; trying again", ",\"errno\":%d,\"delayMs\":%d", err, restart_delay_ms);
    schedule_restart(restart_delay_ms);
    return;
  }
  fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK);
  current.pid = pid;
  current.channel = pair[0];
  current.generation++;
  current.ready = current.stopping = current.reexec = current.handing_over = 0;
  current.phase = SENDING_ITEMS;
  current.next_item = current.next_exit = current.items_sent = current.exits_sent = 0;
  current.started_ms = monotonic_ms();
  log_line(30, "daemon started", ",\"daemon\":%d,\"generation\":%u,\"fds\":%u,\"exits\":%u", (int)pid, current.generation, store_count, exits_count);
  /* A stop asked for while no daemon ran: this one gets it once it is READY. */
  if (stop_signal != 0) held_signals |= 1ull << (stop_signal - 1);
  pump();
}

/* Exit code as a shell reports it: the code, or 128 + the signal. */
static int shell_status(const siginfo_t *info) {
  return info->si_code == CLD_EXITED ? info->si_status : 128 + info->si_status;
}

static int has_children(void) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static __attribute__((noreturn)) void finish(int status) {
  if (has_children()) log_line(40, "exiting with children still running: they go to the parent init", ",\"status\":%d", status);
  exit(status);
}

/* ---- REEXEC: a new keeper binary takes over in the same process ----
 *
 * execve keeps the pid, the children (and so their exits to come), the signal mask and every
 * fd without CLOEXEC. The tables go to the new binary through a memfd, in a format of their
 * own rather than this build's memory layout: the reader is another build, whose structs may
 * differ (keepers up to main 06867fc wrote their structs as they lay in memory, so an upgrade
 * that changed one started with an empty store). Little endian at fixed offsets, as the
 * channel's messages:
 *   header: u32 magic "PVKS", u16 version, u16 header size, u16 entry size, u16 exit size,
 *     u32 entries, u32 exits, u32 records size, u64 next exit id, u64 signals held for the
 *     next daemon, u32 the stop signal received (0: none), u16 inherited-signals length, u16 0;
 *   then the inherited-signals variable (PVK_ENV_INHERITED_SIGNALS=...), each entry, each
 *   exit (the EXIT message's body), and the entries' records end to end, in entry order.
 * A later keeper may append a field to the header, an entry or an exit and keep the version
 * (an older reader skips what is past the sizes it knows, so such a field must be safe to
 * ignore); any other change takes a new version. A keeper reads its own version and the
 * unversioned layout, and goes back to the binary it replaces for any other (restore_state). */
#define STATE_MAGIC 0x534b5650u /* "PVKS" */
#define STATE_VERSION 2u        /* 1: the unversioned layout (read, never written) */
#define STATE_HEADER_MAGIC 0u
#define STATE_HEADER_VERSION 4u
#define STATE_HEADER_SIZE_AT 6u
#define STATE_HEADER_ENTRY_SIZE 8u
#define STATE_HEADER_EXIT_SIZE 10u
#define STATE_HEADER_ENTRIES 12u
#define STATE_HEADER_EXITS 16u
#define STATE_HEADER_RECORDS_SIZE 20u
#define STATE_HEADER_NEXT_EXIT_ID 24u
#define STATE_HEADER_HELD_SIGNALS 32u
#define STATE_HEADER_STOP_SIGNAL 40u
#define STATE_HEADER_SIGNALS_LENGTH 44u
#define STATE_HEADER_SIZE 48u
/* Entry: u64 key, u64 pidfs inode (0: none), i32 fd (open in the new keeper: the exec keeps
 * it), i32 pid, u16 record length, u8 kind, u8 0, u32 0. */
#define STATE_ENTRY_KEY 0u
#define STATE_ENTRY_INODE 8u
#define STATE_ENTRY_FD 16u
#define STATE_ENTRY_PID 20u
#define STATE_ENTRY_RECORD_LENGTH 24u
#define STATE_ENTRY_KIND 26u
#define STATE_ENTRY_SIZE 32u

/* The unversioned layout, read for an upgrade from a keeper older than the format: its structs
 * verbatim (main 06867fc), which this compiler lays out as that build's did on this machine. */
#define LEGACY_MAGIC 0x54534b50u /* "PKST", in host order */
struct legacy_entry {
  uint64_t key, inode;
  int fd;
  pid_t pid;
  uint32_t sent_generation, record_offset;
  uint16_t record_length;
  uint8_t kind;
};
struct legacy_exit {
  uint64_t id;
  pid_t pid;
  int32_t code, status;
  uint64_t inode, utime_us, stime_us, realtime_ns;
  uint32_t sent_generation;
};
struct legacy_header {
  uint32_t magic, entry_size, exit_size, store_count, exits_count, arena_used;
  uint64_t next_exit_id;
  char inherited_signals[96];
};

/* The memfd is written through this buffer: one write per 64 KiB, not one per entry. */
static struct {
  int fd, failed;
  size_t used;
  unsigned char buffer[65536];
} state_out;

static int write_all(int fd, const void *data, size_t length) {
  const char *p = data;
  while (length > 0) {
    ssize_t n = write(fd, p, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    length -= (size_t)n;
  }
  return 0;
}

static void state_flush(void) {
  if (!state_out.failed && write_all(state_out.fd, state_out.buffer, state_out.used) < 0) state_out.failed = errno;
  state_out.used = 0;
}

static void state_put(const void *data, size_t length) {
  const unsigned char *p = data;
  while (length > 0) {
    if (state_out.used == sizeof state_out.buffer) state_flush();
    const size_t n = length < sizeof state_out.buffer - state_out.used ? length : sizeof state_out.buffer - state_out.used;
    memcpy(state_out.buffer + state_out.used, p, n);
    state_out.used += n;
    p += n;
    length -= n;
  }
}

/* Returns 0, or the errno of the failed write. */
static int write_state(int fd) {
  unsigned char header[STATE_HEADER_SIZE] = {0}, entry[STATE_ENTRY_SIZE], exit[PVK_EXIT_SIZE];
  const uint16_t signals_length = (uint16_t)strlen(env_signals);
  uint32_t records_size = 0;
  for (uint32_t i = 0; i < store_count; i++) records_size += store[i].record_length;
  put32(header + STATE_HEADER_MAGIC, STATE_MAGIC);
  put16(header + STATE_HEADER_VERSION, STATE_VERSION);
  put16(header + STATE_HEADER_SIZE_AT, STATE_HEADER_SIZE);
  put16(header + STATE_HEADER_ENTRY_SIZE, STATE_ENTRY_SIZE);
  put16(header + STATE_HEADER_EXIT_SIZE, PVK_EXIT_SIZE);
  put32(header + STATE_HEADER_ENTRIES, store_count);
  put32(header + STATE_HEADER_EXITS, exits_count);
  put32(header + STATE_HEADER_RECORDS_SIZE, records_size);
  put64(header + STATE_HEADER_NEXT_EXIT_ID, next_exit_id);
  put64(header + STATE_HEADER_HELD_SIGNALS, held_signals);
  put32(header + STATE_HEADER_STOP_SIGNAL, (uint32_t)stop_signal);
  put16(header + STATE_HEADER_SIGNALS_LENGTH, signals_length);
  state_out.fd = fd;
  state_out.failed = 0;
  state_out.used = 0;
  state_put(header, sizeof header);
  state_put(env_signals, signals_length);
  for (uint32_t i = 0; i < store_count; i++) {
    memset(entry, 0, sizeof entry);
    put64(entry + STATE_ENTRY_KEY, store[i].key);
    put64(entry + STATE_ENTRY_INODE, store[i].inode);
    put32(entry + STATE_ENTRY_FD, (uint32_t)store[i].fd);
    put32(entry + STATE_ENTRY_PID, (uint32_t)store[i].pid);
    put16(entry + STATE_ENTRY_RECORD_LENGTH, store[i].record_length);
    entry[STATE_ENTRY_KIND] = store[i].kind;
    state_put(entry, sizeof entry);
  }
  for (uint32_t i = 0; i < exits_count; i++) {
    encode_exit(exit, &exits[i]);
    state_put(exit, sizeof exit);
  }
  for (uint32_t i = 0; i < store_count; i++) state_put(record_arena + store[i].record_offset, store[i].record_length);
  state_flush();
  return state_out.failed;
}

static int valid_entry(uint8_t kind, uint16_t record_length, int fd) {
  return kind >= PVK_KIND_PIDFD && kind <= PVK_KIND_LISTENER && record_length <= PVK_RECORD_MAX && fd >= 0;
}

/* Format 2 (above) into the tables; -1 if it is inconsistent anywhere. */
static int read_state(const unsigned char *s, size_t size) {
  if (size < STATE_HEADER_SIZE) return -1;
  const size_t header_size = get16(s + STATE_HEADER_SIZE_AT), entry_size = get16(s + STATE_HEADER_ENTRY_SIZE), exit_size = get16(s + STATE_HEADER_EXIT_SIZE);
  const uint32_t entries = get32(s + STATE_HEADER_ENTRIES), exit_count = get32(s + STATE_HEADER_EXITS), stop = get32(s + STATE_HEADER_STOP_SIGNAL);
  const size_t signals_length = get16(s + STATE_HEADER_SIGNALS_LENGTH), records_size = get32(s + STATE_HEADER_RECORDS_SIZE);
  if (header_size < STATE_HEADER_SIZE || entry_size < STATE_ENTRY_SIZE || exit_size < PVK_EXIT_SIZE || entries > PVK_STORE_MAX ||
      exit_count > PVK_EXITS_MAX || signals_length >= sizeof env_signals || stop >= 65)
    return -1;
  const size_t entries_at = header_size + signals_length, exits_at = entries_at + entries * entry_size, records_at = exits_at + exit_count * exit_size;
  if (records_at > size || records_size > size - records_at) return -1;
  size_t record_at = records_at;
  for (uint32_t i = 0; i < entries; i++) {
    const unsigned char *e = s + entries_at + i * entry_size;
    struct stored_fd *entry = &store[i];
    entry->key = get64(e + STATE_ENTRY_KEY);
    entry->inode = get64(e + STATE_ENTRY_INODE);
    entry->fd = (int)get32(e + STATE_ENTRY_FD);
    entry->pid = (pid_t)get32(e + STATE_ENTRY_PID);
    entry->record_length = get16(e + STATE_ENTRY_RECORD_LENGTH);
    entry->kind = e[STATE_ENTRY_KIND];
    entry->sent_generation = 0;
    if (!valid_entry(entry->kind, entry->record_length, entry->fd) || entry->record_length > records_at + records_size - record_at) return -1;
    entry->record_offset = arena_used;
    memcpy(record_arena + arena_used, s + record_at, entry->record_length);
    arena_used += entry->record_length;
    record_at += entry->record_length;
  }
  for (uint32_t i = 0; i < exit_count; i++) decode_exit(s + exits_at + i * exit_size, &exits[i]);
  store_count = entries;
  exits_count = exit_count;
  next_exit_id = get64(s + STATE_HEADER_NEXT_EXIT_ID);
  held_signals = get64(s + STATE_HEADER_HELD_SIGNALS);
  stop_signal = (int)stop;
  memcpy(env_signals, s + header_size, signals_length);
  env_signals[signals_length] = '\0';
  return 0;
}

/* The unversioned layout into the tables; -1 if it is inconsistent anywhere. */
static int read_legacy_state(const unsigned char *s, size_t size) {
  struct legacy_header header;
  if (size < sizeof header) return -1;
  memcpy(&header, s, sizeof header);
  if (header.entry_size != sizeof(struct legacy_entry) || header.exit_size != sizeof(struct legacy_exit) || header.store_count > PVK_STORE_MAX ||
      header.exits_count > PVK_EXITS_MAX || header.arena_used > sizeof record_arena)
    return -1;
  const size_t exits_at = sizeof header + header.store_count * sizeof(struct legacy_entry);
  const size_t arena_at = exits_at + header.exits_count * sizeof(struct legacy_exit);
  if (arena_at > size || header.arena_used > size - arena_at) return -1;
  for (uint32_t i = 0; i < header.store_count; i++) {
    struct legacy_entry e;
    memcpy(&e, s + sizeof header + i * sizeof e, sizeof e);
    if (!valid_entry(e.kind, e.record_length, e.fd) || e.record_offset > header.arena_used || e.record_length > header.arena_used - e.record_offset) return -1;
    store[i] = (struct stored_fd){.key = e.key, .inode = e.inode, .fd = e.fd, .pid = e.pid, .record_offset = e.record_offset, .record_length = e.record_length, .kind = e.kind};
  }
  for (uint32_t i = 0; i < header.exits_count; i++) {
    struct legacy_exit e;
    memcpy(&e, s + exits_at + i * sizeof e, sizeof e);
    exits[i] = (struct exit_record){.id = e.id, .pid = e.pid, .code = e.code, .status = e.status, .inode = e.inode, .utime_us = e.utime_us, .stime_us = e.stime_us, .realtime_ns = e.realtime_ns};
  }
  memcpy(record_arena, s + arena_at, header.arena_used);
  store_count = header.store_count;
  exits_count = header.exits_count;
  arena_used = header.arena_used;
  next_exit_id = header.next_exit_id;
  header.inherited_signals[sizeof header.inherited_signals - 1] = '\0';
  memcpy(env_signals, header.inherited_signals, sizeof env_signals); /* daemon_env points here */
  return 0;
}

static void set_cloexec_on_store(int on) {
  for (uint32_t i = 0; i < store_count; i++) fcntl(store[i].fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

/* Executes a keeper (at self_path, or the executable open as `exe`) with `--restore STATE[,PREVIOUS]`
 * and this keeper's own arguments; returns the errno if it could not. */
static int exec_keeper(int exe, int state, int previous) {
  static char state_arg[32];
  static char *argv[ARGV_MAX + 3];
  if (previous >= 0) snprintf(state_arg, sizeof state_arg, "%d,%d", state, previous);
  else snprintf(state_arg, sizeof state_arg, "%d", state);
  int n = 0;
  argv[n++] = self_path;
  argv[n++] = "--restore";
  argv[n++] = state_arg;
  for (char **a = original_argv + 1; *a != NULL && n < ARGV_MAX + 2; a++) argv[n++] = *a;
  argv[n] = NULL;
  if (exe >= 0) fexecve(exe, argv, environ);
  else execve(self_path, argv, environ);
  return errno;
}

static void reexecute(void) {
  const int state = (int)syscall(SYS_memfd_create, "pidvisor-keeper-state", 0u);
  const int err = state < 0 ? errno : write_state(state);
  if (err != 0 || lseek(state, 0, SEEK_SET) < 0) {
    log_line(50, "cannot serialise the keeper's state: not re-executing", ",\"errno\":%d", err != 0 ? err : errno);
    if (state >= 0) close(state);
    return;
  }
  /* This binary, for the new one to go back to if it cannot read the state (an open file: the
   * upgrade has replaced it on disk). Not CLOEXEC: the new keeper marks it so. */
  const int self = open("/proc/self/exe", O_RDONLY);
  set_cloexec_on_store(0);
  log_line(40, "re-executing the keeper from disk", ",\"path\":\"%s\",\"fds\":%u,\"exits\":%u,\"stateVersion\":%u", self_path, store_count, exits_count,
           STATE_VERSION);
  const int exec_error = exec_keeper(-1, state, self);
  set_cloexec_on_store(1);
  close(state);
  if (self >= 0) close(self);
  log_line(50, "cannot re-execute the keeper: this one goes on", ",\"errno\":%d", exec_error);
}

/* In the new keeper, before its first daemon: takes over the tables a previous one wrote. A
 * state it cannot read (a format version it does not know: a downgrade, or a damaged memfd)
 * goes back, fds and children untouched, to the binary that wrote it, which reads it and starts
 * the daemon as this one would have: the upgrade of the keeper is refused, nothing else is
 * lost. It goes back once (that binary gets no fd to go back to) and only to a keeper that gave
 * one (every keeper since the format); failing that, it starts with an empty store. */
static void restore_state(void) {
  if (previous_keeper_fd >= 0) fcntl(previous_keeper_fd, F_SETFD, FD_CLOEXEC); /* never a daemon's */
  struct stat st;
  const unsigned char *s = MAP_FAILED;
  size_t size = 0;
  if (fstat(restore_fd, &st) == 0 && st.st_size >= 8) {
    size = (size_t)st.st_size;
    s = mmap(NULL, size, PROT_READ, MAP_PRIVATE, restore_fd, 0);
  }
  uint32_t version = 0, legacy_magic = 0;
  int read = -1;
  if (s != MAP_FAILED) {
    memcpy(&legacy_magic, s, sizeof legacy_magic);
    if (get32(s + STATE_HEADER_MAGIC) == STATE_MAGIC && (version = get16(s + STATE_HEADER_VERSION)) == STATE_VERSION) read = read_state(s, size);
    else if (legacy_magic == LEGACY_MAGIC && (version = 1)) read = read_legacy_state(s, size);
    munmap((void *)s, size);
  }
  if (read < 0) {
    store_count = exits_count = arena_used = 0;
    held_signals = 0;
    stop_signal = 0;
    log_line(50, version == STATE_VERSION || version == 1 ? "the previous keeper's state is inconsistent: going back to the previous keeper's binary"
                                                          : "the previous keeper's state is in a format this keeper does not read: going back to the previous keeper's binary",
             ",\"version\":%u,\"reads\":[1,%u],\"previous\":%d", version, STATE_VERSION, previous_keeper_fd);
    if (previous_keeper_fd >= 0 && lseek(restore_fd, 0, SEEK_SET) == 0) {
      const int err = exec_keeper(previous_keeper_fd, restore_fd, -1);
      log_line(50, "cannot go back to the previous keeper's binary", ",\"errno\":%d", err);
    }
    /* The fds are still open here: without the table they cannot be named, so they are kept
     * (leaked) rather than guessed at. The children are still ours and are reaped. */
    log_line(50, "starting with an empty store: the new daemon holds its services again only through their pidfs file handles", ",\"fd\":%d",
             restore_fd);
    close(restore_fd);
    return;
  }
  close(restore_fd);
  if (previous_keeper_fd >= 0) close(previous_keeper_fd);
  for (uint32_t i = 0; i < store_count; i++) store[i].sent_generation = 0;
  for (uint32_t i = 0; i < exits_count; i++) exits[i].sent_generation = 0;
  set_cloexec_on_store(1);
  log_line(40, "took over the previous keeper's state", ",\"fds\":%u,\"exits\":%u,\"version\":%u,\"heldSignals\":%llu", store_count, exits_count, version,
           (unsigned long long)held_signals);
}

static void on_daemon_exit(const siginfo_t *info) {
  const int64_t now = monotonic_ms();
  const int status = shell_status(info);
  /* What it sent before it died is still queued (STOPPING often is: it comes just before the
   * exit, and SIGCHLD may be read first): act on it before deciding. */
  for (int batches = 0; batches < (int)(PVK_STORE_MAX / RECEIVE_BATCH) && current.channel >= 0; batches++)
    if (receive_messages(1) == 0) break;
  const int ready = current.ready, stopping = current.stopping, reexec = current.reexec;
  close_channel();
  current.pid = 0;
  /* Signals held during a hand-over are the next daemon's (after the exec, or after a restart
   * if the hand-over failed); any other daemon's held signals died with it. */
  if (!current.handing_over) held_signals = 0;
  if (stopping) finish(status);
  if (reexec) {
    reexecute(); /* returns only if the exec failed: this keeper goes on */
    restart_delay_ms = RESTART_FIRST_MS;
    schedule_restart(0);
    return;
  }
  /* A new daemon can take over only what the keeper holds for it (fds, exits). A daemon that
   * deposited nothing (one that failed to start: bad option, bad config, socket in use, node
   * missing; or one that does not use the store) is not restarted: a new one would start its
   * services a second time beside the old ones. The keeper reports its status instead, and
   * its children, if any, go to the parent init as they would have without a keeper. */
  if (store_count == 0 && exits_count == 0) {
    if (info->si_code != CLD_EXITED) log_line(50, "the daemon died with nothing deposited: not restarting it", ",\"daemon\":%d,\"signal\":%d", (int)info->si_pid, info->si_status);
    finish(status);
  }
  if (ready && now - current.ready_ms >= RESTART_RESET_AFTER_MS) restart_delay_ms = RESTART_FIRST_MS;
  const int delay = restart_delay_ms;
  log_line(50, "the daemon died; restarting it", ",\"daemon\":%d,\"code\":%d,\"signal\":%d,\"ranMs\":%lld,\"ready\":%s,\"delayMs\":%d",
           (int)info->si_pid, info->si_code == CLD_EXITED ? info->si_status : -1, info->si_code == CLD_EXITED ? 0 : info->si_status,
           (long long)(now - current.started_ms), ready ? "true" : "false", delay);
  if (restart_delay_ms < RESTART_MAX_MS) restart_delay_ms = restart_delay_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : restart_delay_ms * 2;
  schedule_restart(delay);
}

/* ---- Reaping ---- */

static void record_exit(const siginfo_t *info, const struct rusage *usage, uint64_t inode) {
  if (exits_count == PVK_EXITS_MAX) {
    log_line(50, "the exit table is full: an exit is not recorded", ",\"pid\":%d,\"code\":%d,\"status\":%d", (int)info->si_pid, info->si_code,
             info->si_status);
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct exit_record *record = &exits[exits_count++];
  record->id = next_exit_id++;
  record->pid = info->si_pid;
  record->code = info->si_code;
  record->status = info->si_status;
  record->inode = inode;
  record->utime_us = (uint64_t)usage->ru_utime.tv_sec * 1000000 + (uint64_t)usage->ru_utime.tv_usec;
  record->stime_us = (uint64_t)usage->ru_stime.tv_sec * 1000000 + (uint64_t)usage->ru_stime.tv_usec;
  record->realtime_ns = (uint64_t)now.tv_sec * 1000000000 + (uint64_t)now.tv_nsec;
  record->sent_generation = 0;
}

/* glibc's waitid has no rusage; the system call has (the same as wait4's). */
static int waitid_rusage(idtype_t type, id_t id, siginfo_t *info, struct rusage *usage) {
  return (int)syscall(SYS_waitid, type, id, info, WEXITED | WNOHANG, usage);
}

/* A deposited pidfd of this zombie: waitid(P_PIDFD) on it names the same pid only if it is the
 * same process (a stale entry's pidfd refers to one already reaped: ECHILD). */
static struct stored_fd *deposited_pidfd_of(pid_t pid) {
  for (uint32_t i = 0; i < store_count; i++) {
    if (store[i].kind != PVK_KIND_PIDFD || store[i].pid != pid) continue;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)P_PIDFD, (id_t)store[i].fd, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) return &store[i];
  }
  return NULL;
}

/* Reaps the keeper's own children, oldest zombie first (a WNOWAIT peek names it, then it is
 * reaped by pidfd or by pid, with its rusage). Only the keeper reaps here: it has one thread,
 * and every child of this process is its own. */
static void reap_children(void) {
  int daemon_ended = 0;
  siginfo_t daemon_info;
  for (int count = 0; count < REAP_BATCH; count++) {
    siginfo_t peek;
    memset(&peek, 0, sizeof peek);
    if (waitid(P_ALL, 0, &peek, WEXITED | WNOHANG | WNOWAIT) < 0 || peek.si_pid == 0) break;
    const pid_t pid = peek.si_pid;
    struct stored_fd *deposited = pid == current.pid ? NULL : deposited_pidfd_of(pid);
    siginfo_t info;
    struct rusage usage;
    memset(&info, 0, sizeof info);
    memset(&usage, 0, sizeof usage);
    int reaped = deposited != NULL ? waitid_rusage((idtype_t)P_PIDFD, (id_t)deposited->fd, &info, &usage) : waitid_rusage(P_PID, (id_t)pid, &info, &usage);
    if (reaped < 0 || info.si_pid != pid) break; /* cannot happen: nobody else reaps our children */
    if (pid == current.pid) {
      daemon_ended = 1;
      daemon_info = info;
    } else if (deposited != NULL) {
      record_exit(&info, &usage, deposited->inode);
    } else {
      orphans_reaped++;
      log_line(30, "reaped an orphan", ",\"orphan\":%d,\"code\":%d,\"status\":%d,\"orphans\":%llu", (int)pid, info.si_code, info.si_status,
               (unsigned long long)orphans_reaped);
    }
  }
  /* After the others: exits reaped in the same batch are recorded before the restart decision. */
  if (daemon_ended) on_daemon_exit(&daemon_info);
  pump();
}

/* ---- Signals ---- */

/* Signals passed on to the daemon. `pidvisor daemon` handles HUP (reload), INT and TERM (stop),
 * USR1 (a status line per service) and USR2 (reserved). `pidvisor init` passes its set on to the
 * main command (daemon/init.ts FORWARDED_SIGNALS; TTIN and TTOU it ignores, as tini does, so the
 * keeper keeps them: job control never stops the keeper). Never the synchronous ones (SEGV, BUS,
 * FPE, ILL, ABRT, TRAP, SYS: they concern the keeper itself), SIGCHLD (it drives the reaping) or
 * SIGPIPE (the keeper's own channel). */
static int is_forwarded(int sig) {
  switch (sig) {
    case SIGHUP: case SIGINT: case SIGTERM: case SIGUSR1: case SIGUSR2:
      return 1;
    case SIGQUIT: case SIGWINCH: case SIGALRM: case SIGCONT: case SIGTSTP: case SIGVTALRM: case SIGXCPU: case SIGXFSZ: case SIGIO:
    case SIGPWR: case SIGURG:
      return init_mode;
    default:
      return 0;
  }
}

static void forward(int sig) {
  if (current.pid == 0) return; /* nobody to pass it to: dropped, as a process without a handler would */
  const uint64_t bit = 1ull << (sig - 1);
  if (current.handing_over) {
    /* The daemon is handing over and acts on nothing more: its successor gets it once READY. */
    held_signals |= bit;
    log_line(40, "signal held for the next daemon: this one is handing over", ",\"signal\":%d", sig);
    return;
  }
  if (current.ready || ((sig == SIGTERM || sig == SIGINT) && (held_signals & bit))) kill(current.pid, sig);
  else held_signals |= bit;
}

/* HANDING_OVER: the daemon hands everything over for an upgrade (daemon/reexec.ts) and acts on
 * no signal from now on. `signals` are those it received meanwhile: they, and every signal that
 * comes for it from now on, go to the next daemon once it is READY (a stop then stops the
 * services the hand-over kept: nothing is started twice, nothing waits for SIGKILL). */
static void hand_over(uint64_t signals) {
  current.handing_over = 1;
  for (int sig = 1; sig < 65; sig++) {
    if (!(signals & (1ull << (sig - 1))) || !is_forwarded(sig)) continue;
    if ((sig == SIGTERM || sig == SIGINT) && stop_signal == 0) stop_signal = sig;
    held_signals |= 1ull << (sig - 1);
    log_line(40, "signal held for the next daemon: this one is handing over", ",\"signal\":%d,\"from\":\"daemon\"", sig);
  }
}

static void release_held_signals(void) {
  for (int sig = 1; sig < 65; sig++)
    if (held_signals & (1ull << (sig - 1))) kill(current.pid, sig);
  held_signals = 0;
}

static void read_signals(int signal_fd) {
  struct signalfd_siginfo info;
  while (read(signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
    const int sig = (int)info.ssi_signo;
    if (sig == SIGCHLD) {
      reap_children();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      if (stop_signal == 0) stop_signal = sig;
      /* No daemon runs (it is between restarts): start one now to do the stop. */
      if (current.pid == 0) {
        start_daemon();
        continue;
      }
    }
    if (is_forwarded(sig)) forward(sig);
  }
}

/* ---- Native init: tini's whole job, without Node ----
 *
 * `init -- COMMAND` that asks for no service and no API (no --config, --socket, cgroup
 * forwarding) needs nothing of Node: starting it would cost ~60 ms and ~45 MiB for what tini
 * does in a few hundred lines. The keeper then is the init (daemon/init.ts documents the
 * behaviour; this is the same, option for option):
 *   - it runs COMMAND in its own process group, with the terminal's foreground unless the
 *     keeper is visibly in the background, and with the signal configuration the keeper was
 *     started with (tini's "inherited signals");
 *   - it reaps every child (orphans included), passes each forwarded signal to COMMAND (-g: to
 *     its group); SIGTERM and SIGINT go to the whole group and start the grace period (--grace,
 *     then SIGKILL to the group); SIGTTIN and SIGTTOU are dropped (held blocked, never acted on);
 *   - it exits with COMMAND's code, or 128 + the signal that killed it, remapped by -e; 127/126
 *     when COMMAND cannot be run (the child says why and exits so, as a shell would).
 * Anything else in the arguments (an option it does not know, a bad value, --help, no COMMAND)
 * goes to the Node init, which runs it or reports it exactly as before. */

#define GRACE_DEFAULT_MS 10000

static struct {
  int group;              /* -g, --forward-to group: every forwarded signal goes to the process group */
  int grace_ms;           /* --grace */
  unsigned char success[256]; /* -e CODE: this status exits 0 */
  char **command;         /* after `--` */
  pid_t pid;              /* the main command; also its process group */
  int64_t kill_at_ms;     /* -1, or when the grace after SIGTERM/SIGINT ends (SIGKILL then) */
  int stopping;
} init = {.grace_ms = GRACE_DEFAULT_MS, .kill_at_ms = -1};

static int is_digits(const char *text, size_t max_length) {
  const size_t n = strlen(text);
  return n > 0 && n <= max_length && strspn(text, "0123456789") == n;
}

/* One option of `init` with its value (NULL for a flag); 0 if the native init cannot take it. */
static int native_init_option(const char *name, const char *value) {
  if (strcmp(name, "group") == 0) return value == NULL && (init.group = 1);
  if (strcmp(name, "verbose") == 0) return value == NULL && (log_threshold = 20);
  if (strcmp(name, "no-subreaper") == 0) return value == NULL; /* read_init_options has it */
  if (value == NULL) return 0;
  if (strcmp(name, "forward-to") == 0) {
    /* cgroup forwarding makes and watches a cgroup: the Node init's. */
    if (strcmp(value, "process") != 0 && strcmp(value, "group") != 0) return 0;
    init.group = strcmp(value, "group") == 0;
    return 1;
  }
  if (strcmp(name, "success-code") == 0) {
    if (!is_digits(value, 3) || atoi(value) > 255) return 0;
    init.success[atoi(value)] = 1;
    return 1;
  }
  if (strcmp(name, "parent-death-signal") == 0) return !is_digits(value, 10) && signal_number(value) != 0;
  if (strcmp(name, "grace") == 0) {
    if (!is_digits(value, 9)) return 0;
    init.grace_ms = atoi(value);
    return 1;
  }
  return strcmp(name, "state-dir") == 0; /* used only with services */
}

/* Whether the native init can run `init ARGS` (from argv[first]) exactly as the Node init
 * would: options as node:util parseArgs reads them (--name, --name=value, --name value, -x,
 * -x value, -xyz flags with a value-taking last one), then `--` and a COMMAND. */
static int parse_native_init(int argc, char **argv, int first) {
  static const char *const takes_value[] = {"forward-to", "success-code", "parent-death-signal", "grace", "config", "socket", "state-dir"};
  int i = first;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || arg[1] == '\0') return 0; /* a COMMAND without `--`: the Node init's rules */
    if (arg[1] == '-') {
      char name[32];
      const char *equals = strchr(arg + 2, '=');
      const size_t length = equals != NULL ? (size_t)(equals - arg - 2) : strlen(arg + 2);
      if (length == 0 || length >= sizeof name) return 0;
      memcpy(name, arg + 2, length);
      name[length] = '\0';
      const char *value = equals != NULL ? equals + 1 : NULL;
      int needs_value = 0;
      for (size_t k = 0; k < sizeof takes_value / sizeof takes_value[0]; k++) needs_value |= strcmp(name, takes_value[k]) == 0;
      if (needs_value && value == NULL) {
        if (i + 1 >= argc) return 0;
        value = argv[++i];
      }
      if (!native_init_option(name, value)) return 0;
      continue;
    }
    for (const char *c = arg + 1; *c != '\0'; c++) {
      const char *name = *c == 'g' ? "group" : *c == 'v' ? "verbose" : *c == 'e' ? "success-code" : *c == 'p' ? "parent-death-signal" : NULL;
      if (name == NULL) return 0; /* -h, or not an option of init */
      if (*c == 'e' || *c == 'p') {
        if (c[1] != '\0' || i + 1 >= argc) return 0; /* -e3: an inline value is the Node init's to read */
        if (!native_init_option(name, argv[++i])) return 0;
        break;
      }
      if (!native_init_option(name, NULL)) return 0;
    }
  }
  if (i + 1 >= argc) return 0; /* no COMMAND: services only, the Node init's */
  init.command = argv + i + 1;
  return 1;
}

/* Whether pidvisor's group holds its terminal's foreground, so COMMAND may take it: tini takes
 * it always, which lets `tini cmd &` steal the terminal from the shell that started it; here a
 * group visibly in the background leaves it (pgrp and tpgid, /proc/self/stat; from inside a
 * PID namespace a group made outside reads as 0: then do as tini). */
static int in_foreground_of_terminal(void) {
  char stat[1024];
  const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  const ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return 1;
  stat[n] = '\0';
  const char *after_name = strrchr(stat, ')');
  long pgrp = 0, foreground = 0;
  /* After the command name: state ppid pgrp session tty_nr tpgid (proc(5)). */
  if (after_name == NULL || sscanf(after_name + 1, " %*c %*d %ld %*d %*d %ld", &pgrp, &foreground) != 2) return 1;
  return !(pgrp > 0 && foreground > 0 && pgrp != foreground);
}

/* The errno's name for the message (a shell's message has only the text; the Node init's had the name). */
static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOEXEC: return "ENOEXEC";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case ETXTBSY: return "ETXTBSY";
    case EPERM: return "EPERM";
    case EISDIR: return "EISDIR";
    default: return "ERRNO";
  }
}

/* execvp without its fallback to /bin/sh for a file with no #! line (ENOEXEC is an error here,
 * as for the Node init's spawn). Returns the errno that explains the failure best. */
static int exec_in_path(char **command) {
  if (strchr(command[0], '/') != NULL) {
    execve(command[0], command, environ);
    return errno;
  }
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  int err = ENOENT, denied = 0;
  static char file[PATH_MAX];
  while (*path != '\0') {
    const char *end = strchrnul(path, ':');
    const int n = snprintf(file, sizeof file, "%.*s/%s", (int)(end - path), end == path ? "." : path, command[0]);
    if (n > 0 && (size_t)n < sizeof file) {
      execve(file, command, environ);
      err = errno;
      if (err == EACCES) denied = 1;
      else if (err != ENOENT && err != ENOTDIR) return err;
    }
    path = *end == ':' ? end + 1 : end;
  }
  return denied ? EACCES : err;
}

/* In the child: its own group, maybe the terminal, the inherited signal configuration, exec. */
static __attribute__((noreturn)) void exec_main_command(int take_terminal) {
  setpgid(0, 0);
  /* SIGTTOU is blocked here (inherited from the keeper), so a background group may take the
   * terminal. No terminal (ENOTTY), no fd 0 (EBADF) or none of ours (ENXIO) is not an error. */
  if (take_terminal && tcsetpgrp(STDIN_FILENO, getpgrp()) < 0 && errno != ENOTTY && errno != EBADF && errno != ENXIO) {
    fprintf(stderr, "pidvisor init: cannot give the terminal to %s: %s\n", init.command[0], strerror(errno));
    _exit(126);
  }
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int sig = 1; sig < 65 && sig < NSIG; sig++) {
    if (inherited_ignored & (1ull << (sig - 1))) sigaction(sig, &ignore, NULL);
    if (inherited_blocked & (1ull << (sig - 1))) sigaddset(&blocked, sig);
  }
  sigprocmask(SIG_SETMASK, &blocked, NULL);
  const int err = exec_in_path(init.command);
  fprintf(stderr, "pidvisor init: cannot run %s: %s (%s)\n", init.command[0], strerror(err), errno_name(err));
  _exit(err == ENOENT ? 127 : 126);
}

static __attribute__((noreturn)) void exit_as_init(int status) {
  const int remapped = init.success[status & 255] ? 0 : status;
  exit(remapped);
}

static void signal_main(int sig, int to_group) {
  if (kill(to_group ? -init.pid : init.pid, sig) < 0 && errno != ESRCH)
    log_line(40, "signal not forwarded", ",\"signal\":%d,\"errno\":%d", sig, errno);
  else log_line(20, "signal forwarded", ",\"signal\":%d,\"group\":%s", sig, to_group ? "true" : "false");
}

/* Reaps what has ended, at most REAP_BATCH; returns 1 if more may be waiting. The main
 * command's end ends the init, after the zombies reaped in the same batch. */
static int reap_as_init(void) {
  int main_status = -1;
  int count = 0;
  for (; count < REAP_BATCH; count++) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0) break;
    const pid_t pid = info.si_pid;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG) < 0 || info.si_pid != pid) break; /* nobody else reaps here */
    if (pid == init.pid) {
      main_status = shell_status(&info);
      log_line(30, "main command exited", ",\"main\":%d,\"code\":%d,\"signal\":%d,\"status\":%d", (int)pid, info.si_code == CLD_EXITED ? info.si_status : -1,
               info.si_code == CLD_EXITED ? 0 : info.si_status, init.success[main_status & 255] ? 0 : main_status);
    } else {
      log_line(20, "reaped an orphan", ",\"orphan\":%d,\"code\":%d,\"status\":%d", (int)pid, info.si_code, info.si_status);
    }
  }
  if (main_status >= 0) exit_as_init(main_status);
  return count == REAP_BATCH;
}

static __attribute__((noreturn)) void run_native_init(int signal_fd) {
  const int take_terminal = in_foreground_of_terminal();
  init.pid = fork();
  if (init.pid == 0) exec_main_command(take_terminal);
  if (init.pid < 0) {
    fprintf(stderr, "pidvisor init: cannot start %s: %s (%s)\n", init.command[0], strerror(errno), errno_name(errno));
    exit_as_init(126);
  }
  setpgid(init.pid, init.pid); /* also here: a signal to the group may come before the child's own setpgid */
  log_line(30, "main command started", ",\"main\":%d,\"spawnMethod\":\"fork\"", (int)init.pid);
  int more_to_reap = 0;
  for (;;) {
    int timeout = more_to_reap ? 0 : -1;
    if (init.kill_at_ms >= 0) {
      const int64_t left = init.kill_at_ms - monotonic_ms();
      timeout = left <= 0 ? 0 : more_to_reap ? 0 : (int)left;
    }
    struct pollfd fd = {.fd = signal_fd, .events = POLLIN};
    if (poll(&fd, 1, timeout) < 0 && errno != EINTR) fail_setup("poll", errno);
    if (init.kill_at_ms >= 0 && monotonic_ms() >= init.kill_at_ms) {
      log_line(40, "the main command did not stop in time: SIGKILL", ",\"graceMs\":%d", init.grace_ms);
      signal_main(SIGKILL, 1);
      init.kill_at_ms = -1;
    }
    if (more_to_reap) more_to_reap = reap_as_init();
    struct signalfd_siginfo info;
    while (read(signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
      const int sig = (int)info.ssi_signo;
      if (sig == SIGCHLD) {
        more_to_reap = reap_as_init();
      } else if (sig == SIGTERM || sig == SIGINT) {
        /* A stop: the whole group, whatever -g says, then SIGKILL after the grace period. */
        if (!init.stopping) {
          init.stopping = 1;
          init.kill_at_ms = monotonic_ms() + init.grace_ms;
          log_line(30, "stopping", ",\"signal\":%d,\"graceMs\":%d", sig, init.grace_ms);
        }
        signal_main(sig, 1);
      } else if (is_forwarded(sig)) {
        signal_main(sig, init.group);
      }
    }
  }
}

/* ---- Main ---- */

int main(int argc, char **argv) {
  /* First: every signal blocked, so none is lost or acted on by default until it can be
   * handled. What was blocked before is remembered for init's main command. */
  sigset_t all, inherited_blocked;
  int is_subreaper = 0;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &inherited_blocked);
  remember_inherited_signals(&inherited_blocked);
  reset_dispositions();

  read_log_level();
  find_self_path();
  parse_arguments(argc, argv);
  if (!native_init) {
    build_environment();
    raise_fd_limit();
  }
  /* As PID 1 (a PID namespace) orphans come to us anyway; elsewhere, ask for them (unless
   * init --no-subreaper: then a dead daemon's children go to the real init). */
  if (getpid() != 1 && !no_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 && !native_init) fail_setup("prctl(PR_SET_CHILD_SUBREAPER)", errno);
  /* As tini and the Node init do: say so when orphans cannot come here. */
  if (native_init && getpid() != 1 && prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper, 0, 0, 0) == 0 && !is_subreaper)
    log_line(40, no_subreaper ? "pidvisor is neither PID 1 nor a child subreaper: orphans go to the real init, so zombie reaping won't work (drop --no-subreaper, or run pidvisor as PID 1)"
                              : "pidvisor is neither PID 1 nor a child subreaper: orphans go to the real init, so zombie reaping won't work", "%s", "");
  if (parent_death_signal != 0) {
    const pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, parent_death_signal, 0, 0, 0) < 0) fail_setup("prctl(PR_SET_PDEATHSIG)", errno);
    /* The parent may have died before the prctl: then nobody will send it. It is blocked and
     * read from the signalfd like any other. */
    if (getppid() != parent) kill(getpid(), parent_death_signal);
  }
  const int signal_fd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) fail_setup("signalfd", errno);
  if (native_init) run_native_init(signal_fd);
  if (restore_fd >= 0) restore_state();

  start_daemon();
  for (;;) {
    struct pollfd fds[2] = {{.fd = signal_fd, .events = POLLIN}, {.fd = current.channel, .events = POLLIN}};
    if (current.want_write) fds[1].events |= POLLOUT;
    const uint32_t polled_generation = current.generation;
    int timeout = -1;
    if (restart_at_ms >= 0) {
      const int64_t left = restart_at_ms - monotonic_ms();
      timeout = left < 0 ? 0 : (int)left;
    }
    if (poll(fds, 2, timeout) < 0 && errno != EINTR) fail_setup("poll", errno);
    if (fds[0].revents & POLLIN) read_signals(signal_fd);
    /* The channel may have been closed (or a new daemon's made) above: these revents are the
     * polled channel's only if it is still open and still that daemon's. */
    if (fds[1].fd >= 0 && fds[1].fd == current.channel && current.generation == polled_generation) {
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) receive_messages((fds[1].revents & (POLLHUP | POLLERR)) != 0);
      if (current.channel >= 0 && (fds[1].revents & POLLOUT)) pump();
    }
    if (restart_at_ms >= 0 && monotonic_ms() >= restart_at_ms && current.pid == 0) start_daemon();
  }
}
