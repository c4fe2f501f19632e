// Python's glob.glob(pattern) for [include] files=: '*', '?' and '[...]' in any path segment
// ('[!...]' negates), no '**' recursion, and a wildcard never matches a name that starts with
// '.' unless the pattern segment does too. Node 20 has no fs.glob (it came with Node 22).
import fs from 'node:fs';
import path from 'node:path';

const MAGIC = /[*?[]/u;

/** The paths matching `pattern` (absolute), unsorted, as glob.glob returns them. */
export function glob(pattern: string): string[] {
  if (!MAGIC.test(pattern)) return fs.existsSync(pattern) ? [pattern] : [];
  const root = path.parse(pattern).root;
  const segments = pattern.slice(root.length).split('/').filter((segment) => segment !== '');
  let found = [root];
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const base of found) {
      if (!MAGIC.test(segment)) {
        const candidate = path.join(base, segment);
        if (last ? fs.existsSync(candidate) : isDirectory(candidate)) next.push(candidate);
        continue;
      }
      const matcher = fnmatch(segment);
      for (const name of readDirectory(base)) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        const candidate = path.join(base, name);
        if (matcher.test(name) && (last || isDirectory(candidate))) next.push(candidate);
      }
    }
    found = next;
  }
  return found;
}

/** fnmatch.translate: '*' any run, '?' one character, '[seq]' and '[!seq]' one of (or none of). */
export function fnmatch(segment: string): RegExp {
  let source = '';
  for (let index = 0; index < segment.length; index++) {
    const char = segment[index]!;
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      let end = index + 1;
      if (segment[end] === '!') end++;
      if (segment[end] === ']') end++;
      while (end < segment.length && segment[end] !== ']') end++;
      if (end >= segment.length) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(index + 1, end).replace(/\\/gu, '\\\\');
      index = end;
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      else if (body.startsWith('^')) body = `\\${body}`;
      source += `[${body}]`;
    } else source += char.replace(/[.*+?^${}()|[\]\\/]/gu, '\\$&');
  }
  return new RegExp(`^${source}$`, 'su');
}

function readDirectory(directory: string): string[] {
  try {
    return fs.readdirSync(directory);
  } catch {
    return [];
  }
}

function isDirectory(candidate: string): boolean {
  try {
    return fs.statSync(candidate).isDirectory();
  } catch {
    return false;
  }
}
