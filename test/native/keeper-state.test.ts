// The keeper's state across an upgrade (REEXEC): the tables a keeper hands to the binary that
// replaces it, read by a keeper built differently. Real builds of native/keeper/keeper.c: the
// test compiles a variant whose in-memory `struct stored_fd` has a field more (what an upgrade
// that changes the store does), and test/fixtures/keeper-legacy-state.c writes the unversioned
// layout of every keeper installed before the state had a format version.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEEPER_BIN, KEEPER_FIXTURE, cleanUp, startKeeper, type Event, type KeeperUnderTest } from '../helpers/keeper.js';
import { fdTargets, isRunning, procStatus } from '../helpers/proc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLD_EXITED = 1;

let keeper: KeeperUnderTest | null = null;
let leftovers: number[] = [];
afterEach(async () => {
  if (keeper !== null) await cleanUp(keeper, leftovers);
  keeper = null;
  leftovers = [];
});

type Started = Event & { pid: number; items: Array<Record<string, unknown>>; exits: Array<Record<string, unknown>>; inherited: unknown };
const started = async (k: KeeperUnderTest, from = 0): Promise<Started> => (await k.waitFor((e) => e.event === 'started', from)) as Started;
const daemonArgs = ['--node', process.execPath, '--script', KEEPER_FIXTURE, 'daemon'];

/** keeper.c with `replace` applied (each pair must match once), built as the project builds it. */
function buildKeeperVariant(dir: string, name: string, replace: Array<[string, string]>): string {
  let source = fs.readFileSync(path.join(root, 'native/keeper/keeper.c'), 'utf8');
  for (const [from, to] of replace) {
    expect(source.split(from).length, `keeper.c has exactly one ${JSON.stringify(from)}`).toBe(2);
    source = source.replace(from, to);
  }
  const file = path.join(dir, `${name}.c`);
  fs.writeFileSync(file, source);
  const binary = path.join(dir, name);
  execFileSync('cc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', '-Wpedantic', '-I', path.join(root, 'native/keeper'), '-o', binary, file]);
  return binary;
}

/** Replaces `binary` on disk with a copy of `by` (a new inode, renamed over it), as a package upgrade does. */
function upgradeOnDisk(binary: string, by: string): void {
  fs.copyFileSync(by, `${binary}.new`);
  fs.renameSync(`${binary}.new`, binary);
}

/** What the process's fds point to that is `file` (or was, before it was replaced). */
function fdsOn(pid: number, file: string): string[] {
  return fdTargets(pid).filter((target) => target.startsWith(file));
}

let dir: string;
let widerEntryKeeper: string;
let futureKeeper: string;
let appendingKeeper: string;
let legacyWriter: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-state-'));
  // An upgrade that adds a field to the store's entries (and so changes their size and layout).
  widerEntryKeeper = buildKeeperVariant(dir, 'keeper-wider-entry', [['struct stored_fd {\n', 'struct stored_fd {\n  uint64_t added_by_an_upgrade[3];\n']]);
  // A later keeper whose state has a format version this one does not know.
  futureKeeper = buildKeeperVariant(dir, 'keeper-future-format', [['#define STATE_VERSION 2u', '#define STATE_VERSION 3u']]);
  // A later keeper of the same format version that appended a field to the header and to each entry.
  appendingKeeper = buildKeeperVariant(dir, 'keeper-appended-fields', [
    ['#define STATE_HEADER_SIZE 48u', '#define STATE_HEADER_SIZE 56u'],
    ['#define STATE_ENTRY_SIZE 32u', '#define STATE_ENTRY_SIZE 40u'],
  ]);
  legacyWriter = path.join(dir, 'keeper-legacy-state');
  execFileSync('cc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', '-o', legacyWriter, path.join(root, 'test/fixtures/keeper-legacy-state.c')]);
}, 120_000);

describe('pidvisor-keeper state across an upgrade', () => {
  it('an upgrade from a keeper of the unversioned layout to one whose store entries changed keeps every fd, exit and child; and so does the next upgrade', async () => {
    const binary = path.join(dir, 'pidvisor-keeper');
    fs.copyFileSync(widerEntryKeeper, binary);
    // The legacy keeper (the fixture) execs `binary --restore FD ...` as its REEXEC did.
    keeper = startKeeper({ command: legacyWriter, keeperArgs: [binary, ...daemonArgs] });
    const keeperPid = keeper.process.pid!;
    const legacy = await keeper.waitFor((e) => e.event === 'legacy-state');
    const sleeper = legacy.sleeper as number;
    leftovers = [sleeper];
    const first = await started(keeper);
    expect(fs.readlinkSync(`/proc/${keeperPid}/exe`)).toBe(binary);
    // The very pipe (its content), the running child's pidfd, the reaped one's, each once.
    expect(first.items.map((i) => [i.key, i.kind, i.record, i.content ?? i.pid]).sort()).toEqual([
      ['2', 'OUTPUT_PIPE', 'svc/stderr', 'kept across the upgrade'],
      ['20', 'PIDFD', 'child 20', -1],
      ['30', 'PIDFD', 'child 30', sleeper],
    ]);
    expect(first.exits.map((e) => [e.id, e.pid, e.siCode, e.siStatus])).toEqual([['41', legacy.exiting, CLD_EXITED, 3]]);
    expect(first.inherited).toEqual({ blocked: String(1 << 14), ignored: String(1 << 12) });
    expect(procStatus(sleeper).get('PPid')).toBe(String(keeperPid));

    // The next upgrade goes back to the project's own build: its entries are smaller again.
    upgradeOnDisk(binary, KEEPER_BIN);
    const from = keeper.events.length;
    keeper.send({ op: 'reexec' });
    const second = await started(keeper, from);
    expect(isRunning(keeperPid)).toBe(true);
    expect(fs.readlinkSync(`/proc/${keeperPid}/exe`)).toBe(binary);
    expect(second.items.map((i) => [i.key, i.kind, i.record, i.content ?? i.pid]).sort()).toEqual([
      ['2', 'OUTPUT_PIPE', 'svc/stderr', ''], // read to its end by the first daemon
      ['20', 'PIDFD', 'child 20', -1],
      ['30', 'PIDFD', 'child 30', sleeper],
    ]);
    expect(second.exits.map((e) => [e.id, e.pid, e.siCode, e.siStatus])).toEqual([['41', legacy.exiting, CLD_EXITED, 3]]);
    expect(second.inherited).toEqual({ blocked: String(1 << 14), ignored: String(1 << 12) });
    expect(keeper.logs.filter((r) => String(r.msg).includes('empty store'))).toEqual([]);
    // The fd the keeper passed to its successor, to go back to it, is closed once it is not needed.
    expect(fdsOn(keeperPid, binary)).toEqual([]);
    expect(fdsOn(second.pid, binary)).toEqual([]);
    expect(procStatus(sleeper).get('PPid')).toBe(String(keeperPid));
    keeper.send({ op: 'exit', code: 0, stopping: true });
    expect(await keeper.exited).toBe(0);
  });

  it('a keeper handed a state format it does not know goes back to the binary that wrote it, which keeps everything and starts the daemon', async () => {
    const binary = path.join(dir, 'pidvisor-keeper-downgraded');
    fs.copyFileSync(futureKeeper, binary);
    keeper = startKeeper({ command: binary, keeperArgs: daemonArgs });
    const keeperPid = keeper.process.pid!;
    const first = await started(keeper);
    keeper.send({ op: 'deposit-pipe', key: 1, text: 'kept through the refused upgrade', record: 'svc/stdout' });
    await keeper.waitFor((e) => e.event === 'deposited');
    keeper.send({ op: 'spawn', key: 30, command: ['sleep', '60'] });
    const spawned = await keeper.waitFor((e) => e.event === 'spawned');
    const sleeper = (spawned.children as Array<{ pid: number }>)[0]!.pid;
    leftovers = [sleeper];

    // The binary on disk becomes this project's build, which reads formats 1 and 2 only.
    upgradeOnDisk(binary, KEEPER_BIN);
    const from = keeper.events.length;
    keeper.send({ op: 'reexec' });
    const second = await started(keeper, from);
    const refused = await keeper.waitForLog((r) => String(r.msg).includes('in a format this keeper does not read'));
    expect(refused).toMatchObject({ version: 3, level: 50 });
    expect(keeper.logs.find((r) => r.msg === 'took over the previous keeper\'s state')).toMatchObject({ version: 3, fds: 2 });
    expect(keeper.logs.filter((r) => String(r.msg).includes('empty store'))).toEqual([]);
    // Same process, back on the binary that wrote the state (no longer on disk), every fd kept.
    expect(isRunning(keeperPid)).toBe(true);
    expect(fs.readlinkSync(`/proc/${keeperPid}/exe`)).toBe(`${binary} (deleted)`);
    expect(second.pid).not.toBe(first.pid);
    expect(second.items.map((i) => [i.key, i.content ?? i.pid]).sort()).toEqual([['1', 'kept through the refused upgrade'], ['30', sleeper]]);
    expect(procStatus(sleeper).get('PPid')).toBe(String(keeperPid));
    expect(fdsOn(keeperPid, binary)).toEqual([]);
    expect(fdsOn(second.pid, binary)).toEqual([]);
    keeper.send({ op: 'exit', code: 0, stopping: true });
    expect(await keeper.exited).toBe(0);
  });

  it('reads the state of a later keeper of the same format version that appended fields, skipping them', async () => {
    const binary = path.join(dir, 'pidvisor-keeper-appended');
    fs.copyFileSync(appendingKeeper, binary);
    keeper = startKeeper({ command: binary, keeperArgs: daemonArgs });
    const keeperPid = keeper.process.pid!;
    await started(keeper);
    keeper.send({ op: 'deposit-pipe', key: 1, text: 'first', record: 'svc/stdout' });
    keeper.send({ op: 'deposit-pipe', key: 2, text: 'second', record: 'svc/stderr' });
    keeper.send({ op: 'spawn', key: 30, command: ['sleep', '60'] });
    const spawned = await keeper.waitFor((e) => e.event === 'spawned');
    await keeper.waitFor((e) => e.event === 'deposited' && e.key === 2);
    const sleeper = (spawned.children as Array<{ pid: number }>)[0]!.pid;
    leftovers = [sleeper];

    upgradeOnDisk(binary, KEEPER_BIN);
    const from = keeper.events.length;
    keeper.send({ op: 'reexec' });
    const second = await started(keeper, from);
    expect(fs.readlinkSync(`/proc/${keeperPid}/exe`)).toBe(binary);
    expect(second.items.map((i) => [i.key, i.record, i.content ?? i.pid]).sort()).toEqual([
      ['1', 'svc/stdout', 'first'],
      ['2', 'svc/stderr', 'second'],
      ['30', 'child 30', sleeper],
    ]);
    keeper.send({ op: 'exit', code: 0, stopping: true });
    expect(await keeper.exited).toBe(0);
  });
});
