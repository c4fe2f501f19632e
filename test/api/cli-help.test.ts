// `--help` is complete: every command of the command table has a summary in `pidvisor --help`
// and help of its own whose option lines name every flag it accepts (its own, the connection
// flags of client commands, and -h/--help), each on a line that describes it. A flag added
// without a line of help fails here. The LICENSE file is the license package.json names.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../api/cli/main.js';
import { CLIENT_OPTIONS, helpText } from '../../api/cli/command.js';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A help line that describes `--name` (after other flags of the same line, like "-f, --follow" or "--stdout, --stderr"). */
function describes(lines: string[], name: string, short: string | undefined): boolean {
  const flag = new RegExp(`^\\s+(-\\w, )?(--[\\w-]+(, |\\s+[A-Z][A-Z-]*(, )?)?)*--${escape(name)}(\\s|,|$)`);
  return lines.some((line) => flag.test(line) && (short === undefined || line.includes(`-${short}, --${name}`)));
}

function topLevelHelp(): Promise<string> {
  return new Promise((resolve, reject) => execFile(process.execPath, [PIDVISOR_BIN, '--help'], (error, stdout) => (error === null ? resolve(stdout) : reject(error))));
}

describe('pidvisor --help', () => {
  it('lists every command of the table with its summary', async () => {
    const help = await topLevelHelp();
    for (const entry of COMMANDS) expect(help).toMatch(new RegExp(`^  ${escape(entry.name)}\\s+${escape(entry.summary)}$`, 'm'));
  });

  it.each(COMMANDS.map((entry) => [entry.name, entry] as const))('`pidvisor %s --help` describes each of its flags', async (_name, entry) => {
    const command = await entry.load();
    const lines = helpText(command).split('\n');
    expect(lines[0]).toBe(`Usage: pidvisor ${command.usage}`);
    const flags = { ...command.options, ...(command.client ? CLIENT_OPTIONS : {}), help: { type: 'boolean', short: 'h' } } as Record<string, { short?: string }>;
    const undescribed = Object.entries(flags)
      .filter(([name, option]) => !describes(lines, name, option.short))
      .map(([name]) => `--${name}`);
    expect(undescribed).toEqual([]);
  });

  it('LICENSE is the license package.json names', () => {
    const { license } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string };
    expect(license).toBe('MIT');
    expect(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} /);
  });
});
