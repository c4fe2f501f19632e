// What this kernel can do, probed once by making the real syscalls (native/src/probe.cc),
// cached for the life of the process, and reported by `GET /v1/system`.
import fs from 'node:fs';
import os from 'node:os';
import { binding } from './load.js';
import type { RawProbeEntry } from './binding.js';
import { UnsupportedKernelError } from './errors.js';

export interface Feature {
  ok: boolean;
  /** The errno the kernel answered when the feature is missing ("ENOSYS"), else null. */
  code: string | null;
}

export interface Capabilities {
  kernel: string;
  /** How children are created: clone3 (Linux 5.3), or clone(CLONE_PIDFD) where seccomp blocks clone3. */
  spawnMethod: 'clone3' | 'clone';
  features: {
    pidfdOpen: Feature; // 5.3
    waitidPidfd: Feature; // 5.4
    pidfdSendSignal: Feature; // 5.1
    pidfdSignalProcessGroup: Feature; // 6.9
    pidfs: Feature; // 6.9: fstat(pidfd).st_ino names one process for the boot
    pidfdGetInfo: Feature; // 6.13
    pidfdInfoExit: Feature; // 6.15
    clone3: Feature; // 5.3
    closeRange: Feature; // 5.9
    /** 5.9: a spawn child shares the fd table (CLONE_FILES) and copies only the low fds it needs. */
    cloneFilesUnshare: Feature;
    soPeerPidfd: Feature; // 6.5
    childSubreaper: Feature; // 3.4
  };
  /** Mount point of the cgroup v2 hierarchy, or null when there is none. */
  cgroup2Mount: string | null;
}

/** Pidfd support pidvisor cannot run without: spawn, reap and signal through a pidfd. */
const REQUIRED: ReadonlyArray<[keyof Capabilities['features'], string]> = [
  ['pidfdOpen', 'pidfd_open (Linux 5.3)'],
  ['waitidPidfd', 'waitid(P_PIDFD) (Linux 5.4)'],
  ['pidfdSendSignal', 'pidfd_send_signal (Linux 5.1)'],
];

let cached: Capabilities | undefined;

export function capabilities(): Capabilities {
  cached ??= probe();
  return cached;
}

/** Throws UnsupportedKernelError naming the syscall and errno when pidfds are unusable here. */
export function assertPidfdSupport(): void {
  const { features, kernel } = capabilities();
  const missing = REQUIRED.filter(([key]) => !features[key].ok).map(([key, what]) => `${what}: ${features[key].code}`);
  if (missing.length > 0) {
    throw new UnsupportedKernelError(`pidvisor needs pidfd support; on kernel ${kernel}: ${missing.join('; ')}`);
  }
}

/** Why pidfd tests must skip here, or null when they can run. */
export function pidfdUnsupportedReason(): string | null {
  try {
    assertPidfdSupport();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

function probe(): Capabilities {
  const raw = binding.probeKernel();
  const feature = (name: string): Feature => {
    const entry: RawProbeEntry | undefined = raw[name];
    return entry === undefined ? { ok: false, code: 'EUNKNOWN' } : { ok: entry.ok, code: entry.code };
  };
  const features: Capabilities['features'] = {
    pidfdOpen: feature('pidfdOpen'),
    waitidPidfd: feature('waitidPidfd'),
    pidfdSendSignal: feature('pidfdSendSignal'),
    pidfdSignalProcessGroup: feature('pidfdSignalProcessGroup'),
    pidfs: feature('pidfs'),
    pidfdGetInfo: feature('pidfdGetInfo'),
    pidfdInfoExit: feature('pidfdInfoExit'),
    clone3: feature('clone3'),
    closeRange: feature('closeRange'),
    cloneFilesUnshare: feature('cloneFilesUnshare'),
    soPeerPidfd: feature('soPeerPidfd'),
    childSubreaper: feature('childSubreaper'),
  };
  return {
    kernel: os.release(),
    spawnMethod: features.clone3.ok ? 'clone3' : 'clone',
    features,
    cgroup2Mount: findCgroup2Mount(),
  };
}

/**
 * The cgroup v2 mount from /proc/self/mountinfo: /sys/fs/cgroup on most distributions,
 * /sys/fs/cgroup/unified on hybrid v1/v2 systems.
 */
export function findCgroup2Mount(mountinfo = readMountinfo()): string | null {
  for (const line of mountinfo.split('\n')) {
    // Fields: id parent major:minor root mountpoint options [optional...] - fstype source super
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const fstype = line.slice(separator + 3).split(' ')[0];
    if (fstype === 'cgroup2') return unescapeMountPath(line.slice(0, separator).split(' ')[4] ?? '');
  }
  return null;
}

function readMountinfo(): string {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
