// A daemon starting on a state dir a dead daemon left behind rebuilds what that daemon had:
// the same services under the same ids, their restart counters, and their running
// instances, held again. An instance is held again only through the pidfs file handle
// recorded at its spawn (open_by_handle_at: the handle is the process's pidfs inode, unique
// for the boot, so a pid recycled meanwhile can never match it) and checked against the
// recorded instance token; never by pid, name or start time. An instance that cannot be
// found any more ended while no daemon ran: it is recorded as such and the restart policy
// applies to it.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { bootId } from './boot-id.js';
import { ServiceCgroup } from './cgroup.js';
import { reopenOutputPipe } from './output-reopen.js';
import { exitFromFields, holdPidfd, openByPidfsHandle, PipeReader, ProcessIdentityError, SystemError, type ProcessExit, type ProcessRef } from '../native/index.js';
import type { KeeperExit } from '../native/keeper-protocol.js';
import type { KeeperLink, OutputStream } from './keeper-link.js';
import type { ExitRecord, RestoredService } from './service.js';
import { STATES, type State } from './state-machine.js';
import type { PersistedInstance, PersistedService, PersistedState } from './state-store.js';
import type { Supervisor } from './supervisor.js';

export interface TakeOverReport {
  /** Services restored under their ids. */
  restored: number;
  /** Instances found running and held again. */
  adopted: number;
  /** How they were held again: through the pidfd the keeper kept, or the recorded pidfs file handle. */
  adoptedThrough: { keeper: number; handle: number };
  /** Instances that ended while no daemon ran. */
  endedAway: number;
  /** Cgroups no restored instance owned whose processes were killed (see killUnownedCgroups). */
  cgroupsKilled: number;
  /** Services that could not be restored (dropped), or whose instance could not be held again (failed). */
  problems: Array<{ id: string; name: string | null; problem: string }>;
}

/** Restores every service of `state` into `supervisor`, which has none yet. */
export function takeOver(supervisor: Supervisor, state: PersistedState, logger: Logger, keeper: KeeperLink | null = null): TakeOverReport {
  const report: TakeOverReport = { restored: 0, adopted: 0, adoptedThrough: { keeper: 0, handle: 0 }, endedAway: 0, cgroupsKilled: 0, problems: [] };
  const owned = new Set<string>();
  // A copy: restoring a service records its state into the same map.
  for (const persisted of [...state.services.values()]) {
    const name = nameOf(persisted.spec);
    let service;
    try {
      service = supervisor.restoreService(persisted.id, persisted.spec, persisted.origin);
    } catch (error) {
      // The spec no longer defines a service here (a user that is gone, a kill mode this
      // start cannot offer). Its instance, if one runs, is left alone and named.
      const problem = `not restored: ${(error as Error).message}${persisted.instance === null ? '' : `; pid ${persisted.instance.pid} (instance ${persisted.instance.instance}) is left running unsupervised`}`;
      logger.error({ service: name ?? persisted.id, id: persisted.id }, problem);
      report.problems.push({ id: persisted.id, name, problem });
      if (persisted.instance?.cgroup != null) owned.add(persisted.instance.cgroup);
      continue;
    }
    report.restored++;
    const restored = restoredFrom(persisted, logger, keeper);
    if (restored.running !== null) {
      report.adopted++;
      report.adoptedThrough[restored.through ?? 'handle']++;
    }
    if (restored.endedAway !== null) report.endedAway++;
    if (restored.problem !== null) report.problems.push({ id: persisted.id, name, problem: restored.problem });
    // Read before restore(): its state changes are recorded into this same entry.
    const wasRemoving = persisted.state === 'removing';
    const cgroup = persisted.instance?.cgroup ?? null;
    service.restore(restored.service);
    // A removal the dead daemon had begun is finished: stopped (with the definition's timeout) and forgotten.
    if (wasRemoving) {
      supervisor.remove(persisted.id).catch((error: unknown) => logger.error({ err: error, id: persisted.id }, 'finishing the removal failed'));
    }
    // Left alone: a re-adopted instance's cgroup, and one whose process may run but could not
    // be held again (the service is failed and says so).
    if ((restored.running !== null || restored.problem !== null) && cgroup !== null) owned.add(cgroup);
  }
  const cgroupRoot = supervisor.system().cgroupRoot;
  if (cgroupRoot !== null) report.cgroupsKilled = killUnownedCgroups(cgroupRoot, owned, logger);
  return report;
}

/**
 * Kills, and removes once empty, every instance cgroup under `root` that no re-adopted
 * instance owns. The root belongs to this state dir's daemon, so each such cgroup is what a
 * dead daemon left: the remains of an instance that ended while no daemon ran, or a spawn the
 * journal never recorded (the daemon died between the clone and the write), whose process
 * would otherwise run on unsupervised.
 */
function killUnownedCgroups(root: string, owned: ReadonlySet<string>, logger: Logger): number {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return 0;
  }
  let killed = 0;
  // The root normalised once (as the instances' cgroups were named with path.join), then a
  // plain concatenation: an entry's name has no '/' and is never . or .., and path.join's
  // normalisation per entry cost ~0.08 ms under load (1,000 entries at 1,000 services).
  const prefix = path.join(root, '/');
  for (const entry of entries) {
    const dir = prefix + entry.name;
    if (!entry.isDirectory() || owned.has(dir)) continue;
    const cgroup = new ServiceCgroup(dir);
    if (cgroup.tryRemove() === null) continue; // empty: removed at once
    killed++;
    logger.warn({ cgroup: dir }, 'killing what a dead daemon left running in a cgroup no service owns');
    cgroup.kill();
    cgroup.waitEmpty(10_000).then(
      (empty) => {
        const error = empty ? cgroup.tryRemove() : new Error('still populated 10 s after cgroup.kill');
        if (error !== null) logger.error({ err: error, cgroup: dir }, 'cgroup left in place');
      },
      (error: unknown) => logger.error({ err: error, cgroup: dir }, 'cgroup left in place'),
    );
  }
  return killed;
}

function restoredFrom(
  persisted: PersistedService,
  logger: Logger,
  keeper: KeeperLink | null,
): { service: RestoredService; running: ProcessRef | null; through: 'keeper' | 'handle' | null; endedAway: ExitRecord | null; problem: string | null } {
  const base = {
    spawns: persisted.spawns,
    state: asState(persisted.state),
    reason: persisted.reason,
    lastExit: persisted.exit,
  };
  const instance = persisted.instance;
  if (instance === null) return { service: { ...base, running: null, endedAway: null }, running: null, through: null, endedAway: null, problem: null };
  const found = holdAgain(persisted.id, instance, keeper);
  if (found.process !== null) {
    // At debug level: the take-over's summary line counts them ('took over from the previous
    // daemon', with adoptedThrough); 1,000 info lines cost ~5% of a take-over of 1,000.
    logger.debug({ id: persisted.id, pid: instance.pid, instance: instance.instance, through: found.through }, 're-adopted');
    const outputs = instance.outputs ?? {};
    // The keeper's read end first: it kept the pipe open (no SIGPIPE) while no daemon ran.
    const reopen = (stream: OutputStream) =>
      keeperOutput(persisted.id, instance, stream, keeper) ?? (outputs[stream] === undefined ? null : reopenOutputPipe(found.process!, stream, outputs[stream]!));
    const running = {
      process: found.process,
      startedAt: Date.parse(instance.startedAt),
      cgroupDir: instance.cgroup,
      stdout: reopen('stdout'),
      stderr: reopen('stderr'),
      exactExit: exitFromReaper(instance, keeper),
    };
    return { service: { ...base, running, endedAway: null }, running: found.process, through: found.through, endedAway: null, problem: null };
  }
  if (found.gone) {
    const reported = keeper?.exitOf(instance.instance) ?? null;
    const ended = reported === null ? endedWhileAway(instance) : endedUnderKeeper(instance, reported, persisted.state === 'stopping' || persisted.state === 'removing');
    logger.warn({ id: persisted.id, pid: instance.pid, instance: instance.instance, code: ended.code, signal: ended.signal }, 'the instance ended while no daemon ran');
    // What it wrote before it ended is still in the pipes the keeper held: read to EOF into its logs.
    const leftOutput = { stdout: keeperOutput(persisted.id, instance, 'stdout', keeper), stderr: keeperOutput(persisted.id, instance, 'stderr', keeper) };
    return { service: { ...base, running: null, endedAway: ended, leftOutput }, running: null, through: null, endedAway: ended, problem: null };
  }
  // The process may still run, but we cannot hold it: starting another copy could run two,
  // so the service is failed until someone looks (and starts it).
  const problem = `instance ${instance.instance} (pid ${instance.pid}) could not be held again: ${found.why}; not restarted`;
  logger.error({ id: persisted.id }, problem);
  return {
    service: { ...base, state: 'failed', reason: problem, running: null, endedAway: null },
    running: null,
    through: null,
    endedAway: null,
    problem,
  };
}

/**
 * The process a recorded instance names, if it still exists; `gone` when it surely does not.
 * First through the pidfd the keeper held for it (any kernel with pidfds; checked against the
 * instance token), then through the pidfs file handle recorded at spawn.
 */
function holdAgain(serviceId: string, instance: PersistedInstance, keeper: KeeperLink | null): { process: ProcessRef | null; gone: boolean; why: string; through: 'keeper' | 'handle' | null } {
  // The machine restarted since: every process of that boot is gone, and its handle could
  // name some process of this one.
  if (instance.boot !== bootId()) return { process: null, gone: true, why: '', through: null };
  const pidfd = keeper?.takePidfd(serviceId, instance.instance) ?? null;
  if (pidfd !== null) {
    try {
      const process = holdPidfd(pidfd, instance.instance);
      // null: the keeper reaped it while no daemon ran (its EXIT says how it ended).
      return { process, gone: process === null, why: '', through: 'keeper' };
    } catch (error) {
      return { process: null, gone: false, why: (error as Error).message, through: null };
    }
  }
  if (instance.handle === null) return { process: null, gone: false, why: 'no pidfs file handle was recorded (kernel before 6.13)', through: null };
  try {
    return { process: openByPidfsHandle(instance.handle, instance.instance), gone: false, why: '', through: 'handle' };
  } catch (error) {
    // ESTALE: the process has been reaped; its handle opens nothing, whoever has its pid now.
    if (error instanceof SystemError && error.code === 'ESTALE') return { process: null, gone: true, why: '', through: null };
    if (error instanceof ProcessIdentityError) return { process: null, gone: false, why: error.message, through: null };
    return { process: null, gone: false, why: (error as Error).message, through: null };
  }
}

function endedWhileAway(instance: PersistedInstance): ExitRecord {
  const startedAt = Date.parse(instance.startedAt);
  return {
    instance: instance.instance,
    pid: instance.pid,
    code: null,
    signal: null,
    coreDumped: false,
    rusage: null,
    reason: 'unobserved',
    startedAt: instance.startedAt,
    // The moment it was found gone: the exit itself happened at some time before.
    endedAt: new Date().toISOString(),
    uptimeMs: Number.isNaN(startedAt) ? 0 : Math.max(0, Date.now() - startedAt),
    error: null,
  };
}

/** An instance the keeper reaped while no daemon ran: its exact status and CPU times. */
function endedUnderKeeper(instance: PersistedInstance, reported: KeeperExit, stopping: boolean): ExitRecord {
  const exit = exitFromFields(reported.siCode, reported.siStatus, Number(reported.userCpuMicros), Number(reported.systemCpuMicros), undefined);
  const startedAt = Date.parse(instance.startedAt);
  const endedAt = Number(reported.reapedAtNs / 1_000_000n);
  return {
    instance: instance.instance,
    pid: instance.pid,
    code: exit.code,
    signal: exit.signal,
    coreDumped: exit.coreDumped,
    rusage:
      exit.rusage === null
        ? null
        : { userCpuMicros: exit.rusage.userCpuMicros, systemCpuMicros: exit.rusage.systemCpuMicros, maxRssKiB: null, maxRssSource: null, maxRssUnavailable: 'reaped by the keeper while no daemon ran: no peak memory was read' },
    // A stop the dead daemon had begun ended it; otherwise it ended by itself.
    reason: stopping ? 'stopped' : 'exited',
    startedAt: instance.startedAt,
    endedAt: new Date(endedAt).toISOString(),
    uptimeMs: Number.isNaN(startedAt) ? 0 : Math.max(0, endedAt - startedAt),
    error: null,
  };
}

// Set (to anything) by a test: the daemon then uses no exit status read through a pidfd of a
// process that is not its child, as on a kernel before Linux 6.15 (no PIDFD_INFO_EXIT), so
// that the keeper's EXIT path below runs where the kernel has the newer feature.
const IGNORE_PIDFD_EXIT_INFO = process.env.PIDVISOR_IGNORE_PIDFD_EXIT_INFO !== undefined;
const REAPER_EXIT_WAIT_MS = 5000;

/**
 * A re-adopted instance is not this daemon's child but, under the keeper, the keeper's: its
 * exit status reaches the daemon through the pidfd only with PIDFD_INFO_EXIT (Linux 6.15), and
 * without CPU times. The keeper's EXIT, sent right after its reap, has both: the status when
 * the kernel could not say (or is not asked), and the CPU times always.
 */
function exitFromReaper(instance: PersistedInstance, keeper: KeeperLink | null): (fromPidfd: ProcessExit) => Promise<ProcessExit> {
  return async (fromPidfd) => {
    const kernel = IGNORE_PIDFD_EXIT_INFO ? { ...fromPidfd, code: null, signal: null, signalNumber: null, coreDumped: false, known: false } : fromPidfd;
    if (keeper === null) return kernel; // reaped by whoever adopted it: the kernel's word only
    const reported = await keeper.reapedExit(instance.instance, kernel.known ? 0 : REAPER_EXIT_WAIT_MS);
    if (reported === null) return kernel;
    const exit = exitFromFields(reported.siCode, reported.siStatus, Number(reported.userCpuMicros), Number(reported.systemCpuMicros), undefined);
    return kernel.known ? { ...kernel, rusage: exit.rusage } : exit;
  };
}

/** The read end of `instance`'s `stream` pipe the keeper held, checked to be the pipe recorded at spawn. */
function keeperOutput(serviceId: string, instance: PersistedInstance, stream: OutputStream, keeper: KeeperLink | null): PipeReader | null {
  const fd = keeper?.takeOutput(serviceId, instance.instance, stream) ?? null;
  if (fd === null) return null;
  const expected = instance.outputs?.[stream];
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFIFO() || (expected !== undefined && `pipe:[${stat.ino}]` !== expected)) throw new Error(`not the pipe ${expected ?? ''}`);
  } catch {
    fs.closeSync(fd);
    return null;
  }
  return new PipeReader(fd);
}

function asState(state: string): State {
  return (STATES as readonly string[]).includes(state) ? (state as State) : 'stopped';
}

function nameOf(spec: unknown): string | null {
  const name = (spec as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : null;
}
