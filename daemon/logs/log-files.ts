// Where a service's logs live and how to read them back: <dir>/<service>.log is being
// written, <service>.log.1 is the newest rotated file, <service>.log.<keep> the oldest.
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeRecords, type DecodedLog } from './cri-format.js';

// A service name becomes a file name: no separators, no dot files, nothing a shell mangles.
const SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$/;

export function checkServiceName(service: string): void {
  if (typeof service !== 'string' || !SERVICE_NAME.test(service)) {
    throw new RangeError(`service name ${JSON.stringify(service)} must match ${SERVICE_NAME}`);
  }
}

/** The current file for `index` 0, the rotated file `index` otherwise. */
export function logFilePath(dir: string, service: string, index = 0): string {
  const file = path.join(dir, `${service}.log`);
  return index === 0 ? file : `${file}.${index}`;
}

/** The service's log files that exist, oldest first. */
export async function listLogFiles(dir: string, service: string): Promise<string[]> {
  checkServiceName(service);
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const rotated: number[] = [];
  let current = false;
  const prefix = `${service}.log`;
  for (const entry of entries) {
    if (entry === prefix) current = true;
    else if (entry.startsWith(`${prefix}.`) && /^[1-9]\d*$/.test(entry.slice(prefix.length + 1))) {
      rotated.push(Number(entry.slice(prefix.length + 1)));
    }
  }
  rotated.sort((a, b) => b - a);
  const files = rotated.map((index) => logFilePath(dir, service, index));
  if (current) files.push(logFilePath(dir, service));
  return files;
}

/** Reads and decodes one log file whole; for files of the configured size, not unbounded ones. */
export async function readLogFile(file: string): Promise<DecodedLog> {
  return decodeRecords(await fs.readFile(file));
}
