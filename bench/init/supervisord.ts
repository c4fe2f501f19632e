// supervisord (Debian's `supervisor`) as PID 1 with one program, from a temporary config.
//
// Timing: supervisord runs in the foreground (nodaemon=true) with [program:x] command=/bin/true,
// autorestart=false, startsecs=0, and an event listener subscribed to PROCESS_STATE_EXITED.
// When the event for x arrives, the listener (bash) stamps $EPOCHREALTIME into a file and
// sends SIGTERM to its parent, supervisord, which then shuts down. From one run we take, all
// from the moment the bench spawns unshare:
//   - startedMs: supervisord logged "supervisord started with pid 1" (Python is up, config read);
//   - spawnedMs: supervisord logged "spawned: 'x'" (its log has millisecond stamps);
//   - exitedMs:  supervisord logged "exited: x": it has reaped the program. This is the figure
//                compared with tini and pidvisor (whose times also include their own exit);
//   - eventMs:   the listener received the exit event;
//   - goneMs:    unshare returned, i.e. supervisord has shut down after the listener's SIGTERM.
// Memory: the same config with [program:x] command=/bin/sleep N and no listener.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { settings } from './config.js';

const LISTENER = `#!/bin/bash
# supervisord event listener (bench/init): on program x's exit, stamp the time, stop supervisord.
printf 'READY\\n'
for _ in 1 2 3 4 5 6 7 8; do
  read -r header || exit 0
  stamp=$EPOCHREALTIME
  len=\${header##*len:}
  read -r -n "$len" payload
  case " $payload " in *" processname:x "*)
    printf '%s\\n' "$stamp" > "$BENCH_STAMP"
    kill -TERM "$PPID"
    printf 'RESULT 2\\nOK'
    exit 0;;
  esac
  printf 'RESULT 2\\nOKREADY\\n'
done
`;

export interface SupervisordTimes {
  startedMs: number | null;
  spawnedMs: number | null;
  exitedMs: number | null;
  eventMs: number | null;
}

/** Why supervisord cannot run here, or null. */
export function supervisordMissing(): string | null {
  return fs.existsSync(settings.supervisord) ? null : `${settings.supervisord} not found (apt-get install supervisor)`;
}

export class SupervisordHarness {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-init-'));
  readonly #log = path.join(this.dir, 'supervisord.log');
  readonly #stamp = path.join(this.dir, 'exited.stamp');
  readonly #timeConfig = path.join(this.dir, 'time.conf');
  readonly #memoryConfig = path.join(this.dir, 'memory.conf');

  constructor(sleepSeconds: number) {
    const listener = path.join(this.dir, 'listener.sh');
    fs.writeFileSync(listener, LISTENER, { mode: 0o755 });
    fs.writeFileSync(this.#timeConfig, this.#config('/bin/true', `
[eventlistener:exitwatch]
command=/bin/bash ${listener}
events=PROCESS_STATE_EXITED
environment=BENCH_STAMP="${this.#stamp}"
`));
    fs.writeFileSync(this.#memoryConfig, this.#config(`/bin/sleep ${sleepSeconds}`, ''));
  }

  #config(command: string, extra: string): string {
    return `[supervisord]
nodaemon=true
user=root
logfile=${this.#log}
pidfile=${path.join(this.dir, 'supervisord.pid')}
childlogdir=${this.dir}

[program:x]
command=${command}
autorestart=false
startsecs=0
${extra}`;
  }

  /** Clears the previous run's log and stamp; call before each timed run. */
  prepareRun(): void {
    fs.rmSync(this.#log, { force: true });
    fs.rmSync(this.#stamp, { force: true });
  }

  timeArgv(): string[] {
    return [settings.supervisord, '-c', this.#timeConfig];
  }

  memoryArgv(): string[] {
    return [settings.supervisord, '-c', this.#memoryConfig];
  }

  /** The times of the run that just ended, relative to `startEpochMs` (wall clock, ms). */
  readRun(startEpochMs: number): SupervisordTimes {
    const log = fs.existsSync(this.#log) ? fs.readFileSync(this.#log, 'utf8') : '';
    const at = (pattern: RegExp): number | null => {
      const match = pattern.exec(log);
      if (match === null) return null;
      const [, y, mo, d, h, mi, s, ms] = match.map(Number) as number[];
      return new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime() - startEpochMs;
    };
    const stamp = fs.existsSync(this.#stamp) ? Number(fs.readFileSync(this.#stamp, 'utf8').trim()) * 1000 : Number.NaN;
    return {
      startedMs: at(/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+),(\d+) \S+ supervisord started with pid/m),
      spawnedMs: at(/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+),(\d+) \S+ spawned: 'x'/m),
      exitedMs: at(/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+),(\d+) \S+ exited: x \(/m),
      eventMs: Number.isFinite(stamp) ? stamp - startEpochMs : null,
    };
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
