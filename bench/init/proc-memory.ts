// A process's memory as the kernel reports it: /proc/<pid>/status (VmRSS, VmHWM, RssAnon,
// RssFile, RssShmem) and /proc/<pid>/smaps_rollup (Pss, Pss_Anon, Pss_File). Bytes.
import fs from 'node:fs';

export interface MemorySample {
  vmRss: number;
  vmHwm: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  pss: number | null;
  pssAnon: number | null;
  pssFile: number | null;
}

function kilobytes(text: string, field: string): number | null {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match === null ? null : Number(match[1]) * 1024;
}

/** The sample, or null when the process is gone (or a kernel thread). */
export function readMemory(pid: number): MemorySample | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  let rollup = '';
  try {
    rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    // smaps_rollup needs Linux 4.14; Pss stays null
  }
  const vmRss = kilobytes(status, 'VmRSS');
  if (vmRss === null) return null;
  return {
    vmRss,
    vmHwm: kilobytes(status, 'VmHWM') ?? vmRss,
    rssAnon: kilobytes(status, 'RssAnon') ?? 0,
    rssFile: kilobytes(status, 'RssFile') ?? 0,
    rssShmem: kilobytes(status, 'RssShmem') ?? 0,
    pss: kilobytes(rollup, 'Pss'),
    pssAnon: kilobytes(rollup, 'Pss_Anon'),
    pssFile: kilobytes(rollup, 'Pss_File'),
  };
}
