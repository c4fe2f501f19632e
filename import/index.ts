// `pidvisor import FILE`: which importer reads the file, and the whole import in one call.
import fs from 'node:fs';
import { importPm2 } from './pm2/import.js';
import { pm2FileKind } from './pm2/load.js';
import { importProcessCompose } from './process-compose/import.js';
import { ImportError, type Format, type ImportResult } from './result.js';
import { importSupervisord } from './supervisord/import.js';

export { FORMATS, ImportError, type Format, type ImportNote, type ImportResult } from './result.js';

export interface ImportOptions {
  /** The format, instead of detecting it. */
  from?: Format;
  /** PM2: `--env NAME` merges env_NAME over env. */
  envName?: string;
}

/**
 * The format of `file`: by its name where that is unambiguous (ecosystem.config.js, *.conf),
 * else by what the file has at its top (supervisord sections, PM2 "apps", process-compose
 * "processes").
 */
export function detectFormat(file: string): Format {
  if (/\.(?:config\.)?(?:c|m)?js$/u.test(file)) return 'pm2';
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ImportError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (/^\s*\[(?:program|group|supervisord|include|eventlistener|fcgi-program):?[^\]]*\]/mu.test(text)) return 'supervisord';
  if (/^processes\s*:/mu.test(text)) return 'process-compose';
  if (/^\s*["']?apps["']?\s*:/mu.test(text) || /\.json$/u.test(file)) return 'pm2';
  throw new ImportError(`${file}: cannot tell its format (no [program:x] section, no "apps", no "processes"); say it with --from supervisord|pm2|process-compose`);
}

export function importFile(file: string, options: ImportOptions = {}): ImportResult {
  const format = options.from ?? detectFormat(file);
  if (options.envName !== undefined && format !== 'pm2') throw new ImportError('--env is a PM2 option (env_NAME of an ecosystem file)');
  switch (format) {
    case 'supervisord':
      return importSupervisord(file);
    case 'pm2':
      return importPm2(file, { ...(options.envName === undefined ? {} : { envName: options.envName }), ...(pm2FileKind(file) === null ? { kind: guessPm2Kind(file) } : {}) });
    case 'process-compose':
      return importProcessCompose(file);
  }
}

// --from pm2 on a file PM2 would not take by its name: read it by its extension.
function guessPm2Kind(file: string): 'json' | 'yaml' | 'js' | 'mjs' {
  if (/\.mjs$/u.test(file)) return 'mjs';
  if (/\.c?js$/u.test(file)) return 'js';
  if (/\.ya?ml$/u.test(file)) return 'yaml';
  return 'json';
}
