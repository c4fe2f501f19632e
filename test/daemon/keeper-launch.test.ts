// The launch path through pidvisor-keeper: `pidvisor-keeper init` as PID 1 and `pidvisor init`
// as a subreaper end with 143 on a SIGTERM sent at any moment from the keeper's first
// instruction (issue 15 item 2); `pidvisor daemon` runs under the keeper, with only its
// handled signals unblocked, and is restarted when killed.
import { spawn as spawnWithLibuv, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { capabilities } from '../../native/index.js';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';
import { childrenOf, INIT_BIN, KEEPER_BIN } from '../helpers/keeper.js';
import { isRoot, isRunning, pollUntil, procStatus } from '../helpers/proc.js';

function unshareSkipReason(): string | null {
  if (!isRoot()) return 'needs root for a new PID namespace';
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
  if (probe.error !== undefined || probe.status !== 0) return `unshare --pid --fork --mount-proc fails here: ${probe.error?.message ?? probe.stderr.toString()}`;
  return null;
}
const noUnshare = unshareSkipReason();

const started = new Set<ChildProcess>();
afterEach(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      const inner = descendantsOf(child.pid!);
      child.kill('SIGKILL');
      for (const pid of inner) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  started.clear();
});

/** Every descendant of `pid`, from /proc: what a test started, however deep. */
function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const visit = (parent: number): void => {
    let children: number[] = [];
    try {
      children = childrenOf(parent);
    } catch {
      return; // exited meanwhile
    }
    for (const child of children) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; exit: Promise<number | string>; stderr: () => string } {
  const child = spawnWithLibuv(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  started.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, exit, stderr: () => stderr };
}

function executableOf(pid: number): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

/** Waits until `pid` (or its only child, for unshare) is the keeper (or pidvisor-init), and returns that pid. */
async function keeperPid(pid: number, viaUnshare: boolean): Promise<number> {
  const keepers = [fs.realpathSync(KEEPER_BIN), fs.realpathSync(INIT_BIN)];
  let found = 0;
  await pollUntil(() => {
    const candidates = viaUnshare ? childrenOf(pid) : [pid];
    found = candidates.find((p) => keepers.includes(executableOf(p))) ?? 0;
    return found !== 0;
  }, 15_000, 1);
  return found;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// From the keeper's first statement on (SIGTERM blocked): at 0 ms Node has not even started.
// Before it, between the exec and main() (the dynamic loader, about a millisecond), SIGTERM is
// still SIG_DFL, and the kernel drops such a signal to the init of a PID namespace, as it does
// for tini: no process can hold a signal before its first instruction.
const DELAYS_MS = [0, 1, 5, 20, 50, 100, 200];

/** Waits until `pid` blocks SIGTERM: the keeper's first statement has run. */
async function blocksSigterm(pid: number): Promise<void> {
  await pollUntil(() => (BigInt(`0x${procStatus(pid).get('SigBlk') ?? '0'}`) & (1n << 14n)) !== 0n, 15_000, 1);
}

describe.skipIf(noUnshare !== null)('pidvisor-keeper init as PID 1 of a PID namespace', () => {
  for (const delay of DELAYS_MS) {
    it(`ends with 143 on a SIGTERM sent ${delay} ms after it starts`, async () => {
      const init = run('unshare', ['--pid', '--fork', '--mount-proc', KEEPER_BIN, 'init', '--', 'sleep', '60'], { PIDVISOR_NODE: process.execPath });
      const keeper = await keeperPid(init.child.pid!, true);
      await blocksSigterm(keeper);
      await pause(delay);
      process.kill(keeper, 'SIGTERM');
      expect(await init.exit).toBe(143);
    });
  }

  it('negative control: without the keeper, a SIGTERM during Node start-up is lost by PID 1', async () => {
    const init = run('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, PIDVISOR_BIN, 'init', '--', 'sleep', '3'], { PIDVISOR_KEEPER: 'off' });
    let node = 0;
    await pollUntil(() => (node = childrenOf(init.child.pid!).find((p) => executableOf(p) === process.execPath) ?? 0) !== 0, 15_000, 1);
    process.kill(node, 'SIGTERM');
    // The signal is dropped (PID 1 with no handler yet): the command runs its 3 s and init exits 0.
    expect(await init.exit).toBe(0);
  });
});

describe('pidvisor init under the keeper as a subreaper', () => {
  for (const delay of [0, 20, 100]) {
    it(`ends with 143 on a SIGTERM sent ${delay} ms after the keeper starts`, async () => {
      const init = run(process.execPath, [PIDVISOR_BIN, 'init', '--', 'sleep', '60']);
      const keeper = await keeperPid(init.child.pid!, false);
      await pause(delay);
      init.child.kill('SIGTERM');
      expect(await init.exit).toBe(143);
      expect(keeper).toBe(init.child.pid);
    });
  }
});

describe('pidvisor init options that concern the keeper', () => {
  // Native init (the keeper runs the main command) and the Node init (services asked for).
  it.each([
    ['the native init', [] as string[]],
    ['the Node init', ['--config', EMPTY_CONFIG, '--state-dir', path.join(os.tmpdir(), `keeper-pdeath-${process.pid}`)]],
  ])('-p SIGNAL: the keeper (the process the runtime started) gets it when its parent dies, and stops everything: %s', async (_, services) => {
    const parent = run('sh', ['-c', `"${KEEPER_BIN}" init -p SIGTERM ${services.join(' ')} -- sleep 60 & wait`], { PIDVISOR_NODE: process.execPath });
    const keeper = await keeperPid(parent.child.pid!, true);
    let tree: number[] = [];
    // keeper -> sleep, or keeper -> node -> sleep
    await pollUntil(() => (tree = descendantsOf(keeper)).some((pid) => commOf(pid) === 'sleep'), 20_000);
    expect(tree.length).toBe(services.length === 0 ? 1 : 2);
    parent.child.kill('SIGKILL');
    await pollUntil(() => !isRunning(keeper) && tree.every((pid) => !isRunning(pid)), 20_000);
  });

  it('--no-subreaper: neither the keeper nor the daemon takes an orphan, which goes to the real init', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-orphan-')), 'pid');
    const init = run(KEEPER_BIN, ['init', '--no-subreaper', '--', 'sh', '-c', `(sleep 60 & echo $! > ${file}); sleep 60`], { PIDVISOR_NODE: process.execPath });
    await pollUntil(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').endsWith('\n'), 20_000);
    const orphan = Number(fs.readFileSync(file, 'utf8'));
    const keeper = init.child.pid!;
    const node = childrenOf(keeper)[0]!;
    try {
      expect([String(keeper), String(node)]).not.toContain(procStatus(orphan).get('PPid'));
    } finally {
      process.kill(orphan, 'SIGKILL');
    }
  });
});

const EMPTY_CONFIG = path.join(os.tmpdir(), `keeper-launch-empty-${process.pid}.yaml`);
fs.writeFileSync(EMPTY_CONFIG, 'services: {}\n');
afterAll(() => fs.rmSync(EMPTY_CONFIG, { force: true }));

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

// Issue 14: `init -- cmd` with no service and no API is the keeper's own job (no Node runs);
// anything that asks for services, the API or an option only the Node init has starts it.
describe('which init runs', () => {
  const tree = async (command: string[]): Promise<string[]> => {
    const init = run(command[0]!, command.slice(1), { PIDVISOR_NODE: process.execPath });
    const keeper = await keeperPid(init.child.pid!, false);
    let below: number[] = [];
    await pollUntil(() => (below = descendantsOf(keeper)).some((pid) => commOf(pid) === 'sleep'), 20_000);
    const names = below.map((pid) => (executableOf(pid) === process.execPath ? 'node' : commOf(pid)));
    init.child.kill('SIGTERM');
    expect(await init.exit).toBe(143);
    return names;
  };
  const state = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-which-'));

  it('`pidvisor init -- cmd` (through Node) execs into the native init: no Node process is left', async () => {
    expect(await tree([process.execPath, PIDVISOR_BIN, 'init', '-g', '-e', '3', '--grace', '500', '--', 'sleep', '60'])).toEqual(['sleep']);
  });

  it('pidvisor-init -- cmd runs the command itself', async () => {
    expect(await tree([INIT_BIN, '-v', '--forward-to', 'process', '--', 'sleep', '60'])).toEqual(['sleep']);
  });

  it.each([
    ['--config', () => ['--config', EMPTY_CONFIG, '--state-dir', state()]],
    ['--socket', () => { const dir = state(); return ['--socket', path.join(dir, 'api.sock'), '--state-dir', dir]; }],
    ['--forward-to cgroup', () => ['--forward-to', 'cgroup']],
  ])('pidvisor-init %s starts the Node init', async (_, args) => {
    expect(await tree([INIT_BIN, ...args(), '--', 'sleep', '60'])).toEqual(['node', 'sleep']);
  });

  it('pidvisor-init --forward-to cgroup removes the cgroups it made once the command ends', (context) => {
    const mount = capabilities().cgroup2Mount;
    if (mount === null) return context.skip('no cgroup v2 hierarchy is mounted');
    const parent = path.join(mount, 'pidvisor-init');
    // Shared by every init on the host: its removal is checked only when no other init had it.
    const parentExisted = fs.existsSync(parent);
    const result = spawnSync(INIT_BIN, ['--forward-to', 'cgroup', '--', 'cat', '/proc/self/cgroup'], { encoding: 'utf8', env: { ...process.env, PIDVISOR_NODE: process.execPath }, timeout: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    const main = /^0::(\/pidvisor-init\/main\.\d+)$/m.exec(result.stdout)?.[1];
    expect(main, result.stdout).toBeDefined();
    expect(fs.existsSync(path.join(mount, main!))).toBe(false);
    if (!parentExisted) expect(fs.existsSync(parent)).toBe(false);
  });

  it('an option value the native init does not take goes to the Node init, which refuses it as before', () => {
    const result = spawnSync(INIT_BIN, ['--grace', 'soon', '--', 'true'], { encoding: 'utf8', env: { ...process.env, PIDVISOR_NODE: process.execPath }, timeout: 20_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--grace takes milliseconds, not "soon"');
  });
});

describe('pidvisor daemon under the keeper', () => {
  const cgroupName = `pidvisor-keeper-test-${process.pid}`;
  const daemonArgs = (dir: string): string[] => [PIDVISOR_BIN, 'daemon', '--socket', path.join(dir, 'api.sock'), '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName];
  // A daemon killed on purpose leaves its (empty) cgroup subtree for the next one to find: the
  // tests' own name, removed here (rmdir fails, and says so, if anything is still in it).
  afterAll(() => {
    const mount = capabilities().cgroup2Mount;
    const root = mount === null ? null : path.join(mount, cgroupName);
    if (root !== null && fs.existsSync(root)) fs.rmdirSync(root);
  });
  const bit = (pid: number, field: string, signal: number): boolean => (BigInt(`0x${procStatus(pid).get(field)}`) & (1n << BigInt(signal - 1))) !== 0n;

  it('stops cleanly (0, not 143) on a SIGTERM sent before the daemon has its handlers: the keeper holds it until READY', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-daemon-'));
    const daemon = run(process.execPath, daemonArgs(dir), { PIDVISOR_LOG_LEVEL: 'info' });
    const keeper = await keeperPid(daemon.child.pid!, false);
    expect([1, 2, 10, 15, 17].map((s) => bit(keeper, 'SigBlk', s))).toEqual([true, true, true, true, true]); // the keeper blocks everything
    daemon.child.kill('SIGTERM');
    expect(await daemon.exit).toBe(0);
    expect(daemon.stderr()).toContain('"msg":"stopped"');
  });

  it('holds a SIGUSR1 sent while the daemon boots until its listener exists: no inspector opens', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-daemon-'));
    const daemon = run(process.execPath, daemonArgs(dir), { PIDVISOR_LOG_LEVEL: 'info' });
    const keeper = await keeperPid(daemon.child.pid!, false);
    process.kill(keeper, 'SIGUSR1'); // Node is booting: no JS listener can exist yet
    await pollUntil(() => daemon.stderr().includes('"msg":"the daemon is ready"'), 20_000);
    process.kill(keeper, 'SIGTERM');
    expect(await daemon.exit).toBe(0);
    expect(daemon.stderr()).not.toContain('Debugger listening');
  });

  // A daemon that serves an API has always deposited its listening socket (so clients never
  // see a refused connection), and every running instance's pidfd: one killed with no service
  // running has nothing that could start twice, so the keeper starts the next daemon.
  it('restarts a daemon killed with only its listener deposited: a new daemon serves on the same socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-daemon-'));
    const daemon = run(process.execPath, daemonArgs(dir), { PIDVISOR_LOG_LEVEL: 'info' });
    const keeper = await keeperPid(daemon.child.pid!, false);
    await pollUntil(() => daemon.stderr().includes('"msg":"the daemon is ready"'), 20_000);
    const first = childrenOf(keeper)[0]!;
    process.kill(first, 'SIGKILL');
    const readyLines = (): number => daemon.stderr().split('"msg":"the daemon is ready"').length - 1;
    await pollUntil(() => readyLines() === 2, 20_000);
    const second = childrenOf(keeper)[0];
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(daemon.stderr()).not.toContain('the daemon died with nothing deposited');
    process.kill(keeper, 'SIGTERM');
    expect(await daemon.exit).toBe(0);
  });
});
