// The kernel's id of this boot. A pidfs inode is unique only within one boot: after a reboot
// the counter starts again, and a handle or instance token recorded before it could name an
// unrelated process now. What the journal records of a process carries the boot it ran in.
import fs from 'node:fs';

let cached: string | undefined;

export function bootId(): string {
  cached ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cached;
}
