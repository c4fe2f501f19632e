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

// V8's OptimizationStatus bits (src/runtime/runtime.h): optimized by any tier, and running
// in the interpreter.
const OPTIMIZED = 1 << 4;
const INTERPRETED = 1 << 7;

// The optimization status of a hot function, in a fresh node (dist/ is built by the test
// setup), with or without interpretJavaScriptOnly() first.
function hotFunctionStatus(skip: boolean): number {
  const heap = new URL('../../dist/daemon/heap.js', import.meta.url).href;
  const script = [
    `const { interpretJavaScriptOnly } = await import(${JSON.stringify(heap)});`,
    skip ? 'interpretJavaScriptOnly();' : '',
    'function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; }',
    'for (let i = 0; i < 20000; i++) hot(100);',
    'console.log(JSON.stringify(%GetOptimizationStatus(hot)));',
  ].join('\n');
  // TurboFan compiles on a background thread by default: on a busy machine the optimized code
  // might not be installed yet when the status is read. Compiling on the main thread makes the
  // negative control deterministic.
  const result = spawnSync(
    process.execPath,
    ['--allow-natives-syntax', '--no-concurrent-recompilation', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as number;
}

describe('the compilers of a resident process', () => {
  it('negative control: a hot function of a plain node leaves the interpreter and is optimized', () => {
    const status = hotFunctionStatus(false);
    expect(status & OPTIMIZED).toBe(OPTIMIZED);
    expect(status & INTERPRETED).toBe(0);
  });

  it('interpretJavaScriptOnly() keeps the same function in the interpreter', () => {
    const status = hotFunctionStatus(true);
    expect(status & OPTIMIZED).toBe(0);
    expect(status & INTERPRETED).toBe(INTERPRETED);
  });
});

describe('the garbage of start-up', () => {
  it('collectStartupGarbage() frees what is no longer referenced, in a node started without --expose-gc', () => {
    const heap = new URL('../../dist/daemon/heap.js', import.meta.url).href;
    const script = [
      `const { collectStartupGarbage } = await import(${JSON.stringify(heap)});`,
      // Old-generation garbage, as module loading leaves: objects that lived long enough to be promoted.
      'let kept = []; for (let i = 0; i < 300000; i++) kept.push({ i, s: "x" + i }); await new Promise((r) => setTimeout(r, 10)); kept = null;',
      'const before = process.memoryUsage().heapUsed;',
      'collectStartupGarbage();',
      'console.log(JSON.stringify({ before, after: process.memoryUsage().heapUsed, gcGlobal: typeof globalThis.gc }));',
    ].join('\n');
    // A large initial old generation keeps V8 from starting its own marking during the
    // allocation: otherwise, under load, that marking could finish on the first allocation
    // after the drop (once in about 15 runs on two busy CPUs) and collect the garbage before
    // it is measured, leaving this test nothing to see.
    const result = spawnSync(process.execPath, ['--initial-old-space-size=256', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const { before, after, gcGlobal } = JSON.parse(result.stdout) as { before: number; after: number; gcGlobal: string };
    expect(before - after).toBeGreaterThan(10 * 2 ** 20);
    // The main context gets no `gc` global out of it.
    expect(gcGlobal).toBe('undefined');
  });
});

// Promoted garbage, as a burst of work leaves it, then a bounded wait for the heap to drop,
// in a fresh node (dist/ is built by the test setup). A large initial old generation keeps
// V8 from collecting it on its own: only the idle collection can free it here.
function heapAfterBurst(idleCollection: boolean): { before: number; after: number } {
  const heap = new URL('../../dist/daemon/heap.js', import.meta.url).href;
  const script = [
    `const { collectGarbageWhenIdle, collectStartupGarbage } = await import(${JSON.stringify(heap)});`,
    // Both runs take V8's gc (a new vm context) as the daemon does at start, so that they differ only by the timer.
    'collectStartupGarbage();',
    idleCollection ? 'collectGarbageWhenIdle({ intervalMs: 20, growthBytes: 2 ** 20, quietBytes: 256 * 1024 });' : '',
    'let kept = []; for (let i = 0; i < 300000; i++) kept.push({ i, s: "x" + i }); await new Promise((r) => setTimeout(r, 10)); kept = null;',
    'const before = process.memoryUsage().heapUsed;',
    // Bounded: 150 polls of 20 ms. The collection needs two quiet reads after the burst.
    'let after = before; for (let i = 0; i < 150 && before - after < 10 * 2 ** 20; i++) { await new Promise((r) => setTimeout(r, 20)); after = process.memoryUsage().heapUsed; }',
    'console.log(JSON.stringify({ before, after }));',
  ].join('\n');
  const result = spawnSync(process.execPath, ['--initial-old-space-size=256', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { before: number; after: number };
}

describe('the garbage of a burst of work', () => {
  it('negative control: without the idle collection, the dead objects of a burst stay in the heap', () => {
    const { before, after } = heapAfterBurst(false);
    expect(before - after).toBeLessThan(10 * 2 ** 20);
  });

  it('collectGarbageWhenIdle() frees them once the heap has stopped growing', () => {
    const { before, after } = heapAfterBurst(true);
    expect(before - after).toBeGreaterThan(10 * 2 ** 20);
  });
});
