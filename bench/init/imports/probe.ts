// Times `import()` of each argument in turn, in this fresh process: a bare package name
// (resolved from here, i.e. the repository's node_modules) or an absolute file. Each import
// pays only for what the earlier ones did not load. Prints JSON on stdout and exits.
// Usage: node probe.js SPEC [SPEC...]
import { pathToFileURL } from 'node:url';

export interface ProbeStep {
  spec: string;
  ms: number;
  rssDelta: number;
}

const steps: ProbeStep[] = [];
const baseRss = process.memoryUsage.rss();
for (const spec of process.argv.slice(2)) {
  const target = spec.startsWith('/') ? pathToFileURL(spec).href : spec;
  const rss = process.memoryUsage.rss();
  const t0 = performance.now();
  await import(target);
  steps.push({ spec, ms: performance.now() - t0, rssDelta: process.memoryUsage.rss() - rss });
}
process.stdout.write(`${JSON.stringify({ baseRss, steps })}\n`);
process.exit(0);
