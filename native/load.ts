// The one module that loads the compiled addon. It looks where node-gyp puts it, relative
// to this file both in the source tree (native/) and in the compiled tree (dist/native/).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { RawBinding } from './binding.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const candidates = [
  path.join(here, '../build/Release/pidvisor.node'),
  path.join(here, '../../build/Release/pidvisor.node'),
  path.join(here, '../build/Debug/pidvisor.node'),
  path.join(here, '../../build/Debug/pidvisor.node'),
];

function loadBinding(): RawBinding {
  if (process.platform !== 'linux') {
    throw new Error(`pidvisor runs on Linux only (this is ${process.platform})`);
  }
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return require(candidate) as RawBinding;
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      failures.push(`  ${candidate}: ${err.code === 'MODULE_NOT_FOUND' ? 'not found' : err.message}`);
    }
  }
  throw new Error(
    `pidvisor: cannot load the native addon (run \`npm install\` to build it). Tried:\n${failures.join('\n')}`,
  );
}

export const binding: RawBinding = loadBinding();
