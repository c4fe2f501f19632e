// The daemon's side of crash-safe supervision, in the order a start needs it: open the state
// a previous daemon left (before the supervisor exists, so that the event sequence continues
// after it), take its services over, and record every change from then on.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { EventLog } from './events.js';
import { withDefaultHeapGrowth } from './heap.js';
import type { KeeperLink } from './keeper-link.js';
import { StateRecorder } from './state-recorder.js';
import { StateStore } from './state-store.js';
import type { Supervisor } from './supervisor.js';
import { takeOver, type TakeOverReport } from './take-over.js';

export interface StatePersistence {
  readonly store: StateStore;
  readonly report: TakeOverReport;
  /** Stops recording and closes the journal (after the shutdown's removals are recorded). */
  close(): void;
  /**
   * A start that failed after the take-over: lets go of every restored service without
   * stopping it and leaves the journal as it is, so the next daemon takes them over.
   */
  abandon(): void;
}

/**
 * Reads the state dir's journal: throws StateFileError when it is corrupt (a torn last record
 * is dropped and logged). The EventLog it returns continues the dead daemon's sequence.
 */
export function openState(stateDir: string, logger: Logger): { store: StateStore; events: EventLog } {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const store = StateStore.open(stateDir);
  const { tornBytesFile, tornBytes } = store.recovery;
  if (tornBytesFile !== null) {
    logger.warn({ file: store.file, tornBytes, keptIn: tornBytesFile }, 'the last state record was cut short (a write interrupted by a crash or power loss); dropped');
  }
  return { store, events: new EventLog(undefined, store.state.seqReserved) };
}

/** Takes over what the journal holds into `supervisor` (which has no service yet) and records from here on. */
export function resumeState(supervisor: Supervisor, store: StateStore, logger: Logger, configFile: string | null, keeper: KeeperLink | null = null): StatePersistence {
  const recorder = new StateRecorder(store, supervisor, logger);
  // Recording starts first: the take-over's own state changes belong in the journal.
  recorder.start();
  const began = performance.now();
  const report = recorder.batch(() => withDefaultHeapGrowth(() => takeOver(supervisor, store.state, logger, keeper)));
  // How long the API waited for it (bench/takeover/ measures the whole crash-to-answer).
  const durationMs = Math.round(performance.now() - began);
  if (report.restored > 0 || report.problems.length > 0) logger.info({ ...report, durationMs }, 'took over from the previous daemon');
  if (store.state.configFile !== configFile) store.append({ t: 'config', path: configFile });
  const cgroupRoot = supervisor.ownedCgroupRoot;
  if (store.state.cgroupRootMade !== cgroupRoot) store.append({ t: 'cgroupRoot', made: cgroupRoot });
  // After the take-over's records: the keeper's exits it used are journaled, so acknowledged.
  keeper?.start(supervisor);
  return {
    store,
    report,
    close() {
      keeper?.stop();
      recorder.stop();
      // The shutdown removed the subtree: a directory of that name made later is someone else's.
      if (cgroupRoot !== null && !fs.existsSync(cgroupRoot)) store.append({ t: 'cgroupRoot', made: null });
      store.close();
    },
    abandon() {
      keeper?.stop();
      recorder.stop();
      supervisor.release();
      store.close();
    },
  };
}
