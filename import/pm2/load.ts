// Reads a PM2 ecosystem file the way PM2 does (lib/Common.js, parseConfig and
// isConfigFile): the file name decides, by the first of these it contains:
//   .json                  evaluated as a JavaScript expression, `(` + text + `)` (so comments,
//                          unquoted keys and trailing commas pass, as with PM2);
//   .yml / .yaml           YAML;
//   .config.js / .config.cjs / .config.mjs   require()d (import()ed for .mjs).
// JavaScript is the user's own code and is run as PM2 would run it: in a child Node process
// (never in the CLI's own), started in the current directory with the current environment, so
// `process.env.X`, `__dirname` and require() behave as under `pm2 start`. What it exports
// comes back as JSON (functions and undefined values are dropped, as they would be in a
// saved PM2 dump).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ImportError } from '../result.js';

const EXTENSIONS: Array<[string, 'json' | 'yaml' | 'js' | 'mjs']> = [
  ['.json', 'json'],
  ['.yml', 'yaml'],
  ['.yaml', 'yaml'],
  ['.config.js', 'js'],
  ['.config.cjs', 'js'],
  ['.config.mjs', 'mjs'],
];

/** How PM2 reads `file`, or null when PM2 would not take it for an ecosystem file. */
export function pm2FileKind(file: string): 'json' | 'yaml' | 'js' | 'mjs' | null {
  return EXTENSIONS.find(([extension]) => file.includes(extension))?.[1] ?? null;
}

// Runs in the child: evaluates or loads the file, prints its value as JSON on stdout.
const EVALUATOR = `
const [kind, file] = process.argv.slice(1);
const fs = require('node:fs');
const done = (value) => process.stdout.write(JSON.stringify(value === undefined ? null : value));
// An ES module (.mjs, or .js in a "type": "module" package) gives its default export.
const importModule = () => import(require('node:url').pathToFileURL(file).href).then((module) => done(module.default ?? module));
function requireModule() {
  let value;
  try {
    value = require(file);
  } catch (error) {
    if (error.code === 'ERR_REQUIRE_ESM' || error.code === 'ERR_REQUIRE_ASYNC_MODULE') return importModule();
    throw error;
  }
  done(require('node:util').types.isModuleNamespaceObject(value) ? value.default ?? value : value);
}
if (kind === 'json') done(require('node:vm').runInThisContext('(' + fs.readFileSync(file, 'utf8') + ')', { filename: file, timeout: 1000 }));
else if (kind === 'mjs') importModule();
else requireModule();
`;

/** The value the ecosystem file gives PM2; throws ImportError with the file's own error. */
export function loadEcosystem(file: string, forceKind?: 'json' | 'yaml' | 'js' | 'mjs'): unknown {
  const kind = forceKind ?? pm2FileKind(file);
  if (kind === null) throw new ImportError(`${file}: PM2 reads only *.json, *.yml, *.yaml, *.config.js, *.config.cjs and *.config.mjs files`);
  if (kind === 'yaml') {
    try {
      return parseYaml(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ImportError(`${file}: ${(error as Error).message}`);
    }
  }
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) throw new ImportError(`cannot read ${file}: no such file`);
  try {
    const output = execFileSync(process.execPath, ['-e', EVALUATOR, kind, absolute], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(output) as unknown;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new ImportError(`${file}: evaluating it as PM2 does failed:\n${stderr === '' ? (error as Error).message : stderr}`);
  }
}
