// The resident heap of the daemon: keepYoungGenerationSmall() must hold V8's young
// generation at its size, whatever bursts come after (V8 grows it on bursts and never
// shrinks it). The negative control runs the same burst in a fresh node without it.
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { keepYoungGenerationSmall } from '../../daemon/heap.js';

// Objects that survive a few scavenges each: what makes V8 grow its semi-spaces.
const BURST = `let kept = []; for (let i = 0; i < 2e6; i++) { kept.push({ i, s: 'x' + i }); if (kept.length > 50000) kept = []; }`;
const NEW_SPACE = `require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size`;

function newSpaceAfterBurstInFreshNode(): { before: number; after: number } {
  const script = `const before = ${NEW_SPACE}; ${BURST}; console.log(JSON.stringify({ before, after: ${NEW_SPACE} }));`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(result.stdout) as { before: number; after: number };
}

describe('the young generation of a resident process', () => {
  it('negative control: a burst grows the young generation of a plain node', () => {
    const { before, after } = newSpaceAfterBurstInFreshNode();
    expect(after).toBeGreaterThan(before);
  });

  it('keepYoungGenerationSmall() keeps it at its size through the same burst', () => {
    keepYoungGenerationSmall();
    const newSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    const before = newSpace();
    new Function(BURST)();
    expect(newSpace()).toBeLessThanOrEqual(before);
  });
});
