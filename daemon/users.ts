// User and group names to ids, from /etc/passwd and /etc/group (Node has no getpwnam).
// Supplementary groups follow initgroups(3): every group that lists the user as a member.
import fs from 'node:fs';
import { SupervisorError } from './errors.js';

export interface Credentials {
  uid: number;
  gid: number;
  groups: number[];
}

interface Entry {
  name: string;
  id: number;
  fields: string[];
}

function readTable(path: string): Entry[] {
  let text = '';
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 4 && /^\d+$/.test(fields[2]!))
    .map((fields) => ({ name: fields[0]!, id: Number(fields[2]), fields }));
}

function find(table: Entry[], ref: string | number): Entry | undefined {
  return typeof ref === 'number' || /^\d+$/.test(ref) ? table.find((e) => e.id === Number(ref)) : table.find((e) => e.name === ref);
}

/**
 * The credentials a service runs with. `user` alone gives its primary group and its
 * supplementary groups; `group` overrides the primary group. A numeric id with no entry is
 * taken as given (containers often run ids that /etc/passwd does not list).
 */
export function resolveCredentials(user: string | number | undefined, group: string | number | undefined): Credentials | null {
  if (user === undefined && group === undefined) return null;
  const passwd = readTable('/etc/passwd');
  const groups = readTable('/etc/group');
  let uid = process.geteuid?.() ?? 0;
  let gid = process.getegid?.() ?? 0;
  let supplementary: number[] = [];
  if (user !== undefined) {
    const entry = find(passwd, user);
    if (entry === undefined && typeof user === 'string' && !/^\d+$/.test(user)) {
      throw new SupervisorError('UNKNOWN_USER', `no user ${JSON.stringify(user)} in /etc/passwd`, { user });
    }
    uid = entry?.id ?? Number(user);
    gid = entry !== undefined ? Number(entry.fields[3]) : gid;
    const name = entry?.name;
    supplementary = name === undefined ? [] : groups.filter((g) => (g.fields[3] ?? '').split(',').includes(name)).map((g) => g.id);
  }
  if (group !== undefined) {
    const entry = find(groups, group);
    if (entry === undefined && typeof group === 'string' && !/^\d+$/.test(group)) {
      throw new SupervisorError('UNKNOWN_GROUP', `no group ${JSON.stringify(group)} in /etc/group`, { group });
    }
    gid = entry?.id ?? Number(group);
  }
  return { uid, gid, groups: [...new Set([gid, ...supplementary])].sort((a, b) => a - b) };
}
