// pidvisor-keeper with real processes: a stand-in daemon (test/fixtures/keeper-daemon.mjs)
// deposits fds and spawns children; the test kills it and checks what the next one is handed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, PROTOCOL, encodeDeposit, encodeKeyed, encodeEmpty } from '../../native/keeper-protocol.js';
import { KEEPER_BIN, KEEPER_FIXTURE, cleanUp, startKeeper, type Event, type KeeperUnderTest } from '../helpers/keeper.js';
import { isRunning, openFds, pollUntil, procStatus, zombieChildren } from '../helpers/proc.js';

const CLD_EXITED = 1;
const CLD_KILLED = 2;

let keeper: KeeperUnderTest | null = null;
let leftovers: number[] = [];
afterEach(async () => {
  if (keeper !== null) await cleanUp(keeper, leftovers);
  keeper = null;
  leftovers = [];
});

async function started(k: KeeperUnderTest, from = 0): Promise<Event & { pid: number; items: Array<Record<string, unknown>>; exits: Array<Record<string, unknown>> }> {
  return (await k.waitFor((e) => e.event === 'started', from)) as never;
}

/** SIGKILLs the running daemon and returns the next one's start event. */
async function killDaemon(k: KeeperUnderTest, daemonPid: number): Promise<Awaited<ReturnType<typeof started>>> {
  const from = k.events.length;
  process.kill(daemonPid, 'SIGKILL');
  return started(k, from);
}

async function stopCleanly(k: KeeperUnderTest): Promise<number | string> {
  k.send({ op: 'exit', code: 0, stopping: true });
  return k.exited;
}

describe('pidvisor-keeper', () => {
  it('restarts a daemon killed with SIGKILL and hands the next one every fd still deposited', async () => {
    keeper = startKeeper();
    const first = await started(keeper);
    keeper.send({ op: 'deposit-pipe', key: 1, text: 'first pipe', record: 'svc-a/stdout' });
    keeper.send({ op: 'deposit-pipe', key: 2, text: 'second pipe', record: 'svc-b/stdout' });
    keeper.send({ op: 'deposit-pipe', key: 3, text: 'withdrawn', record: 'svc-c/stdout' });
    await keeper.waitFor((e) => e.event === 'deposited' && e.key === 3);
    keeper.send({ op: 'withdraw', key: 3 });
    await keeper.waitFor((e) => e.event === 'withdrawn');

    const second = await killDaemon(keeper, first.pid);
    expect(second.pid).not.toBe(first.pid);
    // The very pipes (their content proves it), each once, and not the withdrawn one.
    expect(second.items.map((i) => [i.key, i.kind, i.record, i.content]).sort()).toEqual([
      ['1', 'OUTPUT_PIPE', 'svc-a/stdout', 'first pipe'],
      ['2', 'OUTPUT_PIPE', 'svc-b/stdout', 'second pipe'],
    ]);
    const died = await keeper.waitForLog((r) => r.msg === "the daemon died; restarting it");
    expect(died).toMatchObject({ daemon: first.pid, signal: 9, ready: true });

    // And again: a third daemon gets them too (the keeper kept its own copies).
    const third = await killDaemon(keeper, second.pid);
    expect(third.items.map((i) => i.key).sort()).toEqual(['1', '2']);
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('reports the exact status of children that exit while no daemon runs, once acknowledged never again', async () => {
    keeper = startKeeper();
    const first = await started(keeper);
    // Each child waits for its stdin (a pipe the daemon holds) to close: they exit as the daemon dies.
    keeper.send({ op: 'spawn', key: 10, command: ['sh', '-c', 'read x; exit 7'] });
    keeper.send({ op: 'spawn', key: 11, command: ['sh', '-c', 'read x; kill -TERM $$'] });
    keeper.send({ op: 'spawn', key: 12, command: ['sh', '-c', 'read x; kill -KILL $$'] });
    const spawned: Array<{ key: string; pid: number; inode: string }> = [];
    await pollUntil(() => {
      spawned.splice(0, spawned.length, ...keeper!.events.filter((e) => e.event === 'spawned').flatMap((e) => e.children as typeof spawned));
      return spawned.length === 3;
    }, 15_000);
    leftovers = spawned.map((c) => c.pid);

    const second = await killDaemon(keeper, first.pid);
    // Exits come in the inventory or, if a child outlived the restart, live: collect both.
    const exits = (): Array<Record<string, unknown>> => [
      ...second.exits,
      ...keeper!.events.filter((e) => e.event === 'exit').map((e) => e.exit as Record<string, unknown>),
    ];
    await pollUntil(() => exits().length === 3, 15_000);
    const byPid = new Map(exits().map((e) => [e.pid, e]));
    const expected = { 10: [CLD_EXITED, 7], 11: [CLD_KILLED, 15], 12: [CLD_KILLED, 9] } as Record<string, [number, number]>;
    for (const child of spawned) {
      const exit = byPid.get(child.pid)!;
      expect([exit.siCode, exit.siStatus]).toEqual(expected[child.key]);
      // The identity of the process, from the pidfd deposited for it (pidfs: Linux 6.9).
      expect(exit.pidfsInode).toBe(child.inode);
    }
    expect(zombieChildren(keeper.process.pid!)).toEqual([]);

    // Acknowledged exits are forgotten: the next daemon gets none of them; unacknowledged ones come again.
    const [acked, ...unacked] = exits();
    keeper.send({ op: 'ack', id: acked!.id });
    await keeper.waitFor((e) => e.event === 'acked');
    const third = await killDaemon(keeper, second.pid);
    expect(third.exits.map((e) => e.id).sort()).toEqual(unacked.map((e) => e.id).sort());
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('on REEXEC re-executes itself from disk in the same process, keeping its fds, unacknowledged exits and children', async () => {
    // A copy of the keeper, replaced on disk (a new inode) before the REEXEC, as an upgrade would.
    const binary = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-upgrade-')), 'pidvisor-keeper');
    fs.copyFileSync(KEEPER_BIN, binary);
    keeper = startKeeper({ command: binary, keeperArgs: ['--node', process.execPath, '--script', KEEPER_FIXTURE, 'daemon'] });
    const keeperPid = keeper.process.pid!;
    const first = await started(keeper);
    keeper.send({ op: 'deposit-pipe', key: 1, text: 'read by the second daemon', record: 'svc/stdout' });
    await keeper.waitFor((e) => e.event === 'deposited');
    keeper.send({ op: 'spawn', key: 20, command: ['sh', '-c', 'read x; exit 3'] }); // exits as the first daemon dies
    keeper.send({ op: 'spawn', key: 30, command: ['sleep', '60'] }); // runs on, a child of the keeper
    await pollUntil(() => keeper!.events.filter((e) => e.event === 'spawned').length === 2, 15_000);
    const [exiting, sleeper] = keeper.events.filter((e) => e.event === 'spawned').map((e) => (e.children as Array<{ pid: number }>)[0]!);
    leftovers = [exiting!.pid, sleeper!.pid];
    const second = await killDaemon(keeper, first.pid);
    await pollUntil(() => [...second.exits, ...keeper!.events.filter((e) => e.event === 'exit').map((e) => e.exit as Record<string, unknown>)].length === 1, 15_000);

    // Deposited by the second daemon and not yet read by anyone: its content proves it is the same pipe.
    keeper.send({ op: 'deposit-pipe', key: 2, text: 'kept across the exec', record: 'svc/stderr' });
    await keeper.waitFor((e) => e.event === 'deposited' && e.key === 2);
    fs.copyFileSync(KEEPER_BIN, `${binary}.new`);
    fs.renameSync(`${binary}.new`, binary);
    expect(fs.readlinkSync(`/proc/${keeperPid}/exe`)).toBe(`${binary} (deleted)`);
    const from = keeper.events.length;
    keeper.send({ op: 'reexec' });
    const third = await started(keeper, from);
    await keeper.waitForLog((r) => r.msg === 'took over the previous keeper\'s state');
    expect(keeper.process.exitCode).toBe(null);
    expect(isRunning(keeperPid)).toBe(true);
    // Pipe 1 was drained by the second daemon; 20's process is reaped (fdinfo Pid: -1); 30 runs.
    expect(third.items.map((i) => [i.key, i.content ?? i.pid]).sort()).toEqual([['1', ''], ['2', 'kept across the exec'], ['20', -1], ['30', sleeper!.pid]]);
    expect(third.exits.map((e) => [e.pid, e.siCode, e.siStatus])).toEqual([[exiting!.pid, CLD_EXITED, 3]]);
    expect(procStatus(sleeper!.pid).get('PPid')).toBe(String(keeperPid));
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('drops malformed and truncated messages, counting them, closes their fds and stays up', async () => {
    keeper = startKeeper();
    const first = await started(keeper);
    const keeperPid = keeper.process.pid!;
    const fdsBefore = openFds(keeperPid).length;

    const valid = Buffer.from(encodeDeposit({ key: 99n, kind: 'OUTPUT_PIPE', record: Buffer.from('kept') }));
    const cases: Array<{ hex: string; withFd: boolean }> = [];
    const add = (bytes: Uint8Array, withFd: boolean): void => {
      cases.push({ hex: Buffer.from(bytes).toString('hex'), withFd });
    };
    // Every truncation of a deposit (with its fd, which must be closed) and of a withdraw.
    for (let length = 0; length < valid.length; length++) add(valid.subarray(0, length), true);
    const withdraw = Buffer.from(encodeKeyed(MessageType.WITHDRAW, 5n));
    for (let length = 1; length < withdraw.length; length++) add(withdraw.subarray(0, length), false);
    // One wrong field at a time.
    const mutate = (base: Buffer, offset: number, value: number): Buffer => {
      const copy = Buffer.from(base);
      copy[offset] = value;
      return copy;
    };
    const h = PROTOCOL.header;
    const e = h.size;
    add(mutate(valid, h.magic, 0x00), true);
    add(mutate(valid, h.version, 2), true);
    add(mutate(valid, h.type, 77), true);
    add(mutate(valid, h.bodyLength, valid[h.bodyLength]! + 1), true);
    add(mutate(valid, e + PROTOCOL.entry.kind, 0), true);
    add(mutate(valid, e + PROTOCOL.entry.kind, 4), true);
    add(mutate(valid, e + PROTOCOL.entry.reserved, 1), true);
    add(mutate(valid, e + PROTOCOL.entry.recordLength, 200), true);
    add(Buffer.alloc(0), false); // empty (SEQPACKET reads it as the end of the stream would read)
    add(valid, false); // a deposit without its fd
    add(withdraw, true); // a withdraw with one
    add(encodeEmpty(MessageType.READY).subarray(0, 11), false);
    add(Buffer.concat([encodeEmpty(MessageType.STOPPING), Buffer.from([0])]), false); // STOPPING with a body
    add(Buffer.alloc(PROTOCOL.header.size + 600, 0x41), false); // longer than any message
    add(encodeKeyed(MessageType.INVENTORY_ITEM as never, 1n), false); // a type only the keeper sends
    // Random bytes, some with a valid header in front (seeded: a failure can be replayed).
    let seed = 0x2545f491;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n < 100; n++) {
      let body = Buffer.from(Array.from({ length: random() * 2 }, random));
      // Never the length of a valid deposit's body behind a valid header.
      if (body.length === valid.length - h.size) body = Buffer.concat([body, Buffer.from([0])]);
      add(n % 2 === 0 ? body : Buffer.concat([valid.subarray(0, h.size), body]), n % 3 === 0);
    }
    cases.forEach((c, n) => keeper!.send({ op: 'raw', ...c, n }));
    await keeper.waitFor((ev) => ev.event === 'sent' && ev.n === cases.length - 1, 0, 30_000);
    keeper.send({ op: 'raw', hex: valid.toString('hex'), withFd: true, n: -1 });
    await keeper.waitFor((ev) => ev.event === 'sent' && ev.n === -1);

    // Every one counted (a random body can never be well formed: it lacks its fd or has a bad header).
    const counted = async (): Promise<number> => {
      await pollUntil(() => keeper!.logs.filter((r) => r.msg === 'dropped a malformed message from the daemon').length === cases.length, 15_000);
      return Math.max(...keeper!.logs.map((r) => Number(r.malformed ?? 0)));
    };
    expect(await counted()).toBe(cases.length);
    expect(isRunning(keeperPid)).toBe(true);
    // No fd of a dropped message stays open in the keeper: only the one valid deposit was added.
    await pollUntil(() => openFds(keeperPid).length === fdsBefore + 1, 5000);

    const second = await killDaemon(keeper, first.pid);
    expect(second.items.map((i) => [i.key, i.record])).toEqual([['99', 'kept']]);
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('refuses a withdraw of an unknown key with ENOENT, and a deposit of a pidfd kind that is not a pidfd with EBADF', async () => {
    keeper = startKeeper();
    await started(keeper);
    keeper.send({ op: 'withdraw', key: 12345 });
    const refused = await keeper.waitFor((e) => e.event === 'refused');
    expect(refused.refusal).toMatchObject({ aboutType: MessageType.WITHDRAW, code: 'ENOENT', key: '12345' });
    const notAPidfd = Buffer.from(encodeDeposit({ key: 7n, kind: 'PIDFD', record: Buffer.alloc(0) }));
    keeper.send({ op: 'raw', hex: notAPidfd.toString('hex'), withFd: true, n: 0 });
    const second = await keeper.waitFor((e) => e.event === 'refused' && (e.refusal as { key: string }).key === '7');
    expect(second.refusal).toMatchObject({ aboutType: MessageType.DEPOSIT, code: 'EBADF' });
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('exits with the status of a daemon that stops on purpose, or that fails to start with nothing to look after', async () => {
    keeper = startKeeper();
    await started(keeper);
    keeper.send({ op: 'exit', code: 42, stopping: true });
    expect(await keeper.exited).toBe(42);

    // Exits 3 before READY, no fd, no child: a failed start, reported as is (no restart).
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keeper-')), 'fails.sh');
    fs.writeFileSync(script, 'exit 3\n');
    keeper = startKeeper({ keeperArgs: ['--node', '/bin/sh', '--script', script, 'daemon'] });
    expect(await keeper.exited).toBe(3);
    expect(keeper.logs.filter((r) => r.msg === 'the daemon died; restarting it')).toEqual([]);

    keeper = startKeeper({ keeperArgs: ['--node', '/nonexistent/node', '--script', KEEPER_FIXTURE, 'daemon'] });
    expect(await keeper.exited).toBe(127);
    expect(keeper.logs.some((r) => String(r.msg).includes('cannot run /nonexistent/node'))).toBe(true);
  });

  it('passes SIGTERM to the daemon, which stops; the keeper exits with its status', async () => {
    keeper = startKeeper({ env: { FIXTURE_TERM_STATUS: '5' } });
    const daemon = await started(keeper);
    keeper.process.kill('SIGTERM');
    expect(await keeper.exited).toBe(5);
    expect(isRunning(daemon.pid)).toBe(false);
  });

  it('remembers the signal configuration it was started with and hands it to the daemon (tini\'s sigconf set)', async () => {
    // As tini's sigconf test: SIGINT, SIGSEGV, SIGTTOU ignored; SIGILL, SIGTERM, SIGTTIN blocked.
    const wrapper = [
      'import os, signal, sys',
      'for s in (signal.SIGINT, signal.SIGSEGV, signal.SIGTTOU): signal.signal(s, signal.SIG_IGN)',
      'signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGILL, signal.SIGTERM, signal.SIGTTIN])',
      'os.execv(sys.argv[1], sys.argv[1:])',
    ].join('\n');
    keeper = startKeeper({ keeperArgs: ['-c', wrapper, KEEPER_BIN, '--node', process.execPath, '--script', KEEPER_FIXTURE, 'daemon'], command: 'python3' });
    const daemon = await started(keeper);
    const bits = (...signals: number[]): string => signals.reduce((mask, s) => mask | (1n << BigInt(s - 1)), 0n).toString();
    // Python itself also ignores SIGPIPE (13) and SIGXFSZ (25), and so hands them on.
    expect(daemon.inherited).toEqual({ blocked: bits(4, 15, 21), ignored: bits(2, 11, 13, 22, 25) });
    expect(await stopCleanly(keeper)).toBe(0);
  });

  it('refuses a bad command line with usage', async () => {
    keeper = startKeeper({ keeperArgs: ['frobnicate'] });
    expect(await keeper.exited).toBe(2);
    expect(keeper.logs.map((r) => r.msg).join('\n')).toContain('expected `daemon` or `init`, not frobnicate');
  });
});
