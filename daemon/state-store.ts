// The daemon's state on disk, so that a daemon started after a crash (or an upgrade)
// rebuilds exactly what the dead one had: every service with its id and spec, its restart
// counter, its current instance (pid, instance token, pidfs file handle, cgroup), its last
// exit, and how far the event sequence has gone.
//
// An append-only journal, one record per line: `<checksum> <json>\n`, the checksum being the
// first 16 hex digits of the SHA-256 of the JSON. A change costs one write(2) of one short
// line (measured in bench/state-store.ts against rewriting a snapshot per change, which
// grows with the number of services). The write reaches the page cache before the change is
// acknowledged, so a daemon that is SIGKILLed (or OOM-killed) loses nothing; fdatasync runs
// in the background at most SYNC_DELAY_MS after a change, which bounds what a power loss can
// take (and after one, no service is running anyway). When the journal has grown well past
// the state it describes, it is compacted: the state is written to a temporary file, fsynced,
// and renamed over the journal (then the directory is fsynced), so at every instant the file
// on disk is either the old journal or the new one, whole. The compaction waits for a pause in
// the appends (COMPACT_QUIET_MS), unless the journal doubles its threshold first.
//
// Reading: a record whose checksum or JSON is wrong is corruption, and the daemon refuses to
// start with an error naming the file and the line, rather than run on half a state. The one
// exception is the end of the file: a last line cut short (a write interrupted by a power
// loss) is dropped, its bytes kept beside the journal, and the recovery reported.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PidfsHandle } from '../native/index.js';
import type { ExitRecord } from './service.js';

export const JOURNAL_FILE = 'state.journal';
const FORMAT = 1;
const SYNC_DELAY_MS = 100;
// Compact once the journal is this many times the size of the state it describes.
const COMPACT_RATIO = 4;
export const COMPACT_MIN_BYTES = 256 * 1024;
// ... once no record has come for this long: a compaction encodes, hashes and fsyncs the whole
// state (5 to 30 ms with 200 services, on the event loop), and the burst of records that crossed
// the threshold (200 services started or stopped) paid for it in its own latency. At twice the
// threshold it is compacted at once, so that records that never pause still bound its size.
const COMPACT_QUIET_MS = 250;

/** The running instance of a service as the journal records it. */
export interface PersistedInstance {
  pid: number;
  /** The identity token the API shows (pid and pidfs inode). */
  instance: string;
  /** The boot it ran in (boot-id.ts): neither token nor handle means anything in another. */
  boot: string;
  /** The pidfs file handle recorded at spawn: how a later daemon holds this process again. */
  handle: PidfsHandle | null;
  /** The instance's own cgroup (cgroup kill mode). */
  cgroup: string | null;
  startedAt: string;
  /** Its captured stdout and stderr pipes ("pipe:[inode]"), to be read again after a take-over. */
  outputs?: { stdout?: string; stderr?: string };
}

export interface PersistedService {
  id: string;
  origin: 'api' | 'config';
  /** The spec as given (validated again when restored). */
  spec: unknown;
  /** Instances started so far (the API's `restarts` is this minus one). */
  spawns: number;
  state: string;
  reason: string;
  instance: PersistedInstance | null;
  exit: ExitRecord | null;
}

export interface PersistedState {
  /** Every event up to this sequence number may have been published: a new daemon starts after it. */
  seqReserved: number;
  configFile: string | null;
  /**
   * The cgroup subtree a daemon of this state dir made (and so removes once empty at a clean
   * stop), or null. A daemon that takes over finds the subtree already there: without this it
   * could not tell it from one made by someone else (delegated by systemd), which it must keep.
   */
  cgroupRootMade: string | null;
  services: Map<string, PersistedService>;
}

/** One change, as a journal line holds it. */
export type JournalRecord =
  | { t: 'format'; format: number }
  | { t: 'seq'; reserved: number }
  | { t: 'config'; path: string | null }
  | { t: 'cgroupRoot'; made: string | null }
  | { t: 'service'; id: string; origin: 'api' | 'config'; spec: unknown }
  /** A service redefined in place (a config reload): its new spec; everything else stays. */
  | { t: 'spec'; id: string; spec: unknown }
  | { t: 'state'; id: string; state: string; reason: string; spawns: number; instance: PersistedInstance | null }
  | { t: 'exit'; id: string; exit: ExitRecord }
  | { t: 'removed'; id: string };

/** The journal cannot be read as a whole: the daemon must not start on part of it. */
export class StateFileError extends Error {
  override name = 'StateFileError';
  readonly code = 'STATE_CORRUPT';
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, problem: string) {
    super(
      `${file}, line ${line}: ${problem}. The daemon does not start on part of its state: move the file aside ` +
        '(its services keep running unsupervised) or restore it, then start again',
    );
    this.file = file;
    this.line = line;
  }
}

/** What loading found besides the state: a torn last record that was dropped. */
export interface Recovery {
  /** Where the bytes of a torn last record were kept, or null when the journal ended cleanly. */
  tornBytesFile: string | null;
  tornBytes: number;
}

export class StateStore {
  readonly file: string;
  readonly state: PersistedState;
  readonly recovery: Recovery;
  #fd: number;
  #bytes = 0;
  #compactedBytes = 0;
  #syncTimer: NodeJS.Timeout | undefined;
  #compactTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Lines gathered by batch(), written at its end; null outside one. */
  #batch: string[] | null = null;

  private constructor(file: string, state: PersistedState, recovery: Recovery) {
    this.file = file;
    this.state = state;
    this.recovery = recovery;
    // Every start rewrites the journal from the state it describes: a torn tail is gone for
    // good, and the journal starts no bigger than needed.
    this.#fd = this.#writeSnapshot();
  }

  /**
   * Reads the journal in `dir` (none: an empty state) and opens it for appending. Throws
   * StateFileError when a record other than a torn last one is bad.
   */
  static open(dir: string): StateStore {
    const file = path.join(dir, JOURNAL_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      text = '';
    }
    const { state, tornFrom } = replay(file, text);
    const recovery: Recovery = { tornBytesFile: null, tornBytes: 0 };
    if (tornFrom !== null) {
      recovery.tornBytes = Buffer.byteLength(text.slice(tornFrom), 'latin1');
      recovery.tornBytesFile = `${file}.torn-${Date.now()}`;
      fs.writeFileSync(recovery.tornBytesFile, text.slice(tornFrom), { encoding: 'latin1', mode: 0o600 });
    }
    return new StateStore(file, state, recovery);
  }

  /** Applies `record` to the state and appends it; the change survives a crash of the daemon from here on. */
  append(record: JournalRecord): void {
    if (this.#closed) throw new Error('the state store is closed');
    apply(this.state, record, this.file, 0);
    const line = encode(record);
    if (this.#batch !== null) {
      this.#batch.push(line);
      return;
    }
    this.#write(line);
  }

  /**
   * Runs `work`, gathering what it appends into one write(2) made when it returns (or throws).
   * For a take-over, whose hundreds of records (one per service restored) nobody acts on before
   * it ends: should the daemon die before the write, the journal still holds the state the
   * take-over started from, and the next daemon takes that over again. A failed write goes to
   * `onWriteError` (the changes happened; only their records are missing), not to the caller.
   */
  batch<T>(work: () => T, onWriteError: (error: unknown) => void): T {
    if (this.#batch !== null) return work();
    this.#batch = [];
    try {
      return work();
    } finally {
      const lines = this.#batch.join('');
      this.#batch = null;
      try {
        if (lines !== '' && !this.#closed) this.#write(lines);
      } catch (error) {
        onWriteError(error);
      }
    }
  }

  #write(lines: string): void {
    fs.writeSync(this.#fd, lines);
    this.#bytes += Buffer.byteLength(lines);
    const threshold = Math.max(COMPACT_MIN_BYTES, COMPACT_RATIO * this.#compactedBytes);
    if (this.#bytes > 2 * threshold) {
      this.compact();
      return;
    }
    this.#scheduleSync();
    if (this.#bytes > threshold) this.#scheduleCompaction();
  }

  /** Rewrites the journal as the state it describes (temp file, fsync, rename). */
  compact(): void {
    clearTimeout(this.#compactTimer);
    this.#compactTimer = undefined;
    const old = this.#fd;
    this.#fd = this.#writeSnapshot();
    fs.closeSync(old);
  }

  // Pushed back by every record until the appends pause (refresh: no new timer per record).
  #scheduleCompaction(): void {
    if (this.#compactTimer !== undefined) {
      this.#compactTimer.refresh();
      return;
    }
    this.#compactTimer = setTimeout(() => {
      this.#compactTimer = undefined;
      if (this.#closed) return;
      try {
        this.compact();
      } catch {
        // The journal stays as it is, whole; the next record past the threshold tries again, and
        // at twice the threshold the compaction runs within append(), whose caller sees the error.
      }
    }, COMPACT_QUIET_MS);
    this.#compactTimer.unref();
  }

  /** Syncs and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    clearTimeout(this.#compactTimer);
    fs.fdatasyncSync(this.#fd);
    fs.closeSync(this.#fd);
  }

  #scheduleSync(): void {
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (this.#closed) return;
      // Off the event loop; a failure is left to the next compaction's fsync to surface.
      fs.fdatasync(this.#fd, () => {});
    }, SYNC_DELAY_MS);
    this.#syncTimer.unref();
  }

  #writeSnapshot(): number {
    const lines = snapshotRecords(this.state).map(encode).join('');
    const temp = `${this.file}.tmp`;
    const fd = fs.openSync(temp, 'w', 0o600);
    try {
      fs.writeSync(fd, lines);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, this.file);
    // The rename is durable only once the directory is.
    const dir = fs.openSync(path.dirname(this.file), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
    this.#bytes = this.#compactedBytes = Buffer.byteLength(lines);
    return fs.openSync(this.file, 'a', 0o600);
  }
}

/** The records that rebuild `state` from nothing, in order. */
function snapshotRecords(state: PersistedState): JournalRecord[] {
  const records: JournalRecord[] = [{ t: 'format', format: FORMAT }, { t: 'seq', reserved: state.seqReserved }, { t: 'config', path: state.configFile }, { t: 'cgroupRoot', made: state.cgroupRootMade }];
  for (const s of state.services.values()) {
    records.push({ t: 'service', id: s.id, origin: s.origin, spec: s.spec });
    if (s.exit !== null) records.push({ t: 'exit', id: s.id, exit: s.exit });
    records.push({ t: 'state', id: s.id, state: s.state, reason: s.reason, spawns: s.spawns, instance: s.instance });
  }
  return records;
}

// crypto.hash (Node 20.12, 21.7) is the same digest in one call, without a Hash object per
// record: a third of createHash's cost, on every record of every launch. Older Node: createHash.
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

function checksum(json: string): string {
  return sha256Hex(json).slice(0, 16);
}

function encode(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
}

/**
 * The state the journal's lines rebuild. A bad last line (no newline after it, or one that
 * fails its checksum with nothing after it) is a torn write: `tornFrom` is where it starts.
 * A bad line before a good one is corruption: StateFileError.
 */
function replay(file: string, text: string): { state: PersistedState; tornFrom: number | null } {
  const state: PersistedState = { seqReserved: 0, configFile: null, cgroupRootMade: null, services: new Map() };
  let offset = 0;
  let line = 0;
  while (offset < text.length) {
    line++;
    const end = text.indexOf('\n', offset);
    const raw = end === -1 ? text.slice(offset) : text.slice(offset, end);
    const record = decode(raw);
    if (record === null) {
      // A record passes its checksum only if it is whole, newline or not.
      if (end === -1 || end === text.length - 1) return { state, tornFrom: offset };
      throw new StateFileError(file, line, 'the record fails its checksum or is not JSON');
    }
    if (line === 1 && record.t !== 'format') throw new StateFileError(file, line, 'the journal does not begin with its format');
    apply(state, record, file, line);
    offset = end === -1 ? text.length : end + 1;
  }
  return { state, tornFrom: null };
}

// The bytes of the file were read as latin1 so that offsets are byte offsets; the JSON
// itself is UTF-8.
function decode(raw: string): JournalRecord | null {
  const match = /^([0-9a-f]{16}) (.*)$/s.exec(raw);
  if (match === null) return null;
  const json = Buffer.from(match[2]!, 'latin1').toString('utf8');
  if (checksum(json) !== match[1]) return null;
  try {
    return JSON.parse(json) as JournalRecord;
  } catch {
    return null;
  }
}

/** Applies one record; a record that does not fit the state (its service unknown) is corruption. */
function apply(state: PersistedState, record: JournalRecord, file: string, line: number): void {
  const service = (id: string): PersistedService => {
    const found = state.services.get(id);
    if (found === undefined) throw new StateFileError(file, line, `a ${record.t} record names service ${JSON.stringify(id)}, which the journal never created`);
    return found;
  };
  switch (record.t) {
    case 'format':
      if (record.format !== FORMAT) throw new StateFileError(file, line, `format ${record.format} is not ${FORMAT} (written by another version of pidvisor)`);
      return;
    case 'seq':
      state.seqReserved = Math.max(state.seqReserved, record.reserved);
      return;
    case 'config':
      state.configFile = record.path;
      return;
    case 'cgroupRoot':
      state.cgroupRootMade = record.made;
      return;
    case 'service':
      state.services.set(record.id, { id: record.id, origin: record.origin, spec: record.spec, spawns: 0, state: 'stopped', reason: 'created', instance: null, exit: null });
      return;
    case 'spec':
      service(record.id).spec = record.spec;
      return;
    case 'state': {
      const s = service(record.id);
      s.state = record.state;
      s.reason = record.reason;
      s.spawns = record.spawns;
      s.instance = record.instance;
      return;
    }
    case 'exit': {
      const s = service(record.id);
      s.exit = record.exit;
      s.instance = null;
      return;
    }
    case 'removed':
      service(record.id);
      state.services.delete(record.id);
      return;
    default:
      throw new StateFileError(file, line, `unknown record type ${JSON.stringify((record as { t: unknown }).t)}`);
  }
}
