// PM2 as a peer, through its programmatic API (pm2.connect/start/delete/killDaemon), run by
// pm2-driver.ts in a child process with PM2_HOME in a temp dir (no version check, no
// PM2 Plus). The npm package is installed at bench time into bench/.out/api/peers/
// (gitignored): `npm install --prefix bench/.out/api/peers pm2@7` (engines: node >= 18).
//   start: pm2.start({apps: [{script: sleep, args: 3600, interpreter: none, instances: N}]}),
//          one call; its callback comes once God has spawned all N.
//   stop:  pm2.delete('all'): one call; PM2 stops each (SIGINT, SIGKILL after 1.6 s if
//          needed) and forgets it; then the pids are checked gone from /proc.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { allStdout, startProcess, stopProcess } from './children.js';
import { entry, outDir, peersDir } from './paths.js';
import type { PeerRound, PeerRunner } from './peer.js';
import { processState } from './proc.js';

export const PM2_VERSION = '7';

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** null when pm2 is installed under bench/.out/api/peers/, else why not. */
export function pm2Available(): string | null {
  try {
    createRequire(path.join(peersDir, 'package.json')).resolve('pm2');
    return null;
  } catch {
    return `pm2 is not installed under ${peersDir} (npm install --prefix ${path.relative(process.cwd(), peersDir)} pm2@${PM2_VERSION})`;
  }
}

export function pm2Version(): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(peersDir, 'node_modules', 'pm2', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export function pm2Peer(mode: 'instances' | 'apps', phaseTimeoutMs: number): PeerRunner {
  let home = '';
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', PM2_DISCRETE_MODE: 'true' });
  const run = async (args: string[]): Promise<string> => {
    const driver = startProcess('pm2 driver', process.execPath, [entry.pm2Driver, ...args], { env: env(), pipeStdout: true, logFile: path.join(outDir, 'pm2-driver.log') });
    const output = allStdout(driver);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), phaseTimeoutMs * 2 + 60_000)));
    const outcome = await Promise.race([driver.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      await stopProcess(driver, 1000, 'SIGKILL');
      throw new Error(`pm2 driver ${args[0]} did not finish in time`);
    }
    if (outcome.code !== 0) throw new Error(`pm2 driver ${args[0]} failed (code ${outcome.code}); see ${path.join(outDir, 'pm2-driver.log')}`);
    return output;
  };
  const godPid = (): number | null => {
    try {
      return Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
    } catch {
      return null;
    }
  };
  return {
    name: 'pm2',
    how: {
      start:
        mode === 'instances'
          ? 'pm2.start({apps: [{script: sleep, interpreter: none, instances: N}]}), one call'
          : 'pm2.start({apps: [N apps]}), one call (the client starts 2 at a time)',
      stop: "pm2.delete('all'), one call, then every pid gone from /proc",
      rss: 'PM2 God daemon VmRSS',
    },
    async setup() {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-pm2-'));
      fs.writeFileSync(path.join(home, 'touch'), String(Date.now())); // no first-run banner or version check
      fs.mkdirSync(outDir, { recursive: true });
    },
    async round(n, settleMs): Promise<PeerRound> {
      const output = await run(['round', String(n), String(settleMs), mode]);
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      if (line === undefined) throw new Error(`pm2 driver printed no result: ${output.slice(0, 300)}`);
      return JSON.parse(line.slice('RESULT '.length)) as PeerRound;
    },
    async teardown() {
      if (home === '') return;
      const pid = godPid();
      try {
        await run(['kill']);
      } catch {
        // below
      }
      // God was started by PM2 for us (detached): if killDaemon failed, SIGKILL it by the pid it wrote.
      if (pid !== null && processState(pid) === 'alive' && cmdline(pid).includes(home)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
