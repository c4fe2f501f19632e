// Init mode with services runs as the keeper's Node child (the Node init). When that Node
// process dies (crash, OOM kill, `kill -9`), the keeper restarts it, and the new one must go
// on with the SAME main command: starting it again would run it twice, and the container's
// status must still be that command's. So the main command is held as the services are:
//   - its pidfd is deposited with the keeper (key and record as a service instance's, under
//     the service id MAIN_ID, so the keeper link hands it back like any instance's);
//   - its instance token, and its status once it has ended, are written to `init-main.json`
//     in the state dir (temp file + rename), before anything else acts on them. No fsync: the
//     file serves only a Node init restarted by this keeper, and a crash of Node leaves the
//     kernel's page cache, and so the renamed file, intact; a crash of the machine ends the
//     keeper too, and a file without its keeper's pidfd is never acted on (below). Two fsyncs
//     cost each container's start and end up to ~10 ms of wall time on a busy disk.
// A new Node init takes it back only through the pidfd the keeper held (same instance token;
// a reused pid is never taken for it). The file alone proves nothing: it may be left by an
// earlier container with the same state dir, whose keeper (and pidfds) are gone: then the
// main command is started afresh and the file rewritten.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { exitFromFields, holdPidfd, type ProcessRef } from '../native/index.js';
import { instanceKey, type KeeperLink } from './keeper-link.js';
import { keeperChannel } from './keeper.js';

/** The service id the main command's pidfd is deposited under (no service can have it: ids are generated). */
export const MAIN_ID = 'init-main';
const FILE = 'init-main.json';

interface MainRecord {
  instance: string;
  pid: number;
  /** The status init exits with (before -e), once the main command has ended. */
  status?: number;
}

/** What a Node init restarted by the keeper found of the main command. */
export type MainTakenBack =
  | { kind: 'running'; process: ProcessRef }
  | { kind: 'ended'; status: number; why: string }
  | null;

function read(stateDir: string): MainRecord | null {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(stateDir, FILE), 'utf8')) as Partial<MainRecord>;
    if (typeof record.instance !== 'string' || typeof record.pid !== 'number') return null;
    return record as MainRecord;
  } catch {
    return null;
  }
}

function write(stateDir: string, record: MainRecord): void {
  const file = path.join(stateDir, FILE);
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(record)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/**
 * Before the take-over of the services (which withdraws every pidfd no service claims): the
 * main command a previous Node init under the same keeper started, if the keeper held it.
 */
export function takeMainBack(stateDir: string, keeper: KeeperLink | null, logger: Logger): MainTakenBack {
  const record = keeper === null ? null : read(stateDir);
  if (record === null || keeper === null) return null;
  const pidfd = keeper.takePidfd(MAIN_ID, record.instance);
  if (pidfd === null) return null; // not this keeper's: an earlier container's file
  let held: ProcessRef | null;
  try {
    held = record.status === undefined ? holdPidfd(pidfd, record.instance) : (fs.closeSync(pidfd), null);
  } catch (error) {
    // Another process behind the pidfd than the file names: never act on it.
    logger.error({ err: error, instance: record.instance }, 'the main command held by the keeper is not the one recorded');
    return { kind: 'ended', status: 1, why: 'identity' };
  }
  if (held !== null) {
    logger.info({ pid: held.pid, instance: record.instance }, 'main command re-adopted');
    return { kind: 'running', process: held };
  }
  if (record.status !== undefined) return { kind: 'ended', status: record.status, why: 'recorded' };
  // Ended while no Node init ran: the keeper reaped it and kept how.
  const exit = keeper.exitOf(record.instance);
  if (exit === null) {
    logger.error({ instance: record.instance }, 'the main command ended while no init ran, and how is unknown');
    return { kind: 'ended', status: 1, why: 'unknown' };
  }
  const ended = exitFromFields(exit.siCode, exit.siStatus, undefined, undefined, undefined);
  const status = ended.code ?? (ended.signalNumber === null ? 1 : 128 + ended.signalNumber);
  logger.info({ pid: exit.pid, instance: record.instance, status }, 'main command ended while no init ran');
  return { kind: 'ended', status, why: 'keeper' };
}

/**
 * The main command runs (started or taken back): recorded and, under a keeper, its pidfd
 * deposited, so a Node init that dies from here on is restarted and takes it back.
 */
export function holdMain(stateDir: string, main: ProcessRef, logger: Logger): void {
  write(stateDir, { instance: main.instance, pid: main.pid });
  const channel = keeperChannel();
  if (channel === null) return;
  let fd: number;
  try {
    // A new open file of the same pidfd: ours until the deposit is in the socket.
    fd = fs.openSync(`/proc/self/fd/${main.pidfd}`, fs.constants.O_RDONLY);
  } catch (error) {
    logger.error({ err: error }, 'the main command was not deposited with the keeper');
    return;
  }
  const record = Buffer.from(JSON.stringify({ s: MAIN_ID, i: main.instance }));
  channel.deposit({ key: instanceKey(MAIN_ID, main.instance), kind: 'PIDFD', record }, fd).then(
    () => fs.closeSync(fd),
    () => fs.closeSync(fd),
  );
}

/** The main command ended with `status`: recorded before init acts on it (stops the services, exits). */
export function mainEnded(stateDir: string, main: ProcessRef, status: number): void {
  write(stateDir, { instance: main.instance, pid: main.pid, status });
}
