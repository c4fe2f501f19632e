// Signalling a child's whole process group through its pidfd, including at the last safe
// moment: after the leader exited and before it is reaped.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn, type ChildProcess } from '../../native/index.js';
import { pollUntil, procStat } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();

/** Reads the first line the child prints (here: the pid of the grandchild it started). */
async function firstLine(child: ChildProcess): Promise<string> {
  let text = '';
  for await (const chunk of child.stdout!) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!;
}

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`) && procStat(pid)[0] !== 'Z';

describe.skipIf(unsupported !== null)(`process groups${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('signals the group the child leads', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'sleep 1000 & echo $!; wait'], detach: 'session', stdio: ['null', 'pipe', 'inherit'] });
    const grandchild = Number(await firstLine(child));
    expect(procStat(grandchild)[2]).toBe(String(child.pid)); // same group
    child.signal('SIGKILL', { processGroup: true });
    expect((await child.wait()).signal).toBe('SIGKILL');
    await pollUntil(() => !alive(grandchild), 5000);
  });

  it('reaches the rest of the group from beforeReap, after the leader has exited', async () => {
    let grandchild = 0;
    let leaderStateInHook = '';
    const child: ChildProcess = spawn({
      command: 'sh',
      args: ['-c', 'sleep 1000 & echo $!; read never_comes'],
      detach: 'session',
      stdio: ['pipe', 'pipe', 'inherit'],
      beforeReap: () => {
        leaderStateInHook = procStat(child.pid)[0]!;
        child.signal('SIGKILL', { processGroup: true });
      },
    });
    grandchild = Number(await firstLine(child));
    child.stdin!.end(); // the leader reads EOF and exits; its background sleep would outlive it
    expect((await child.wait()).code).toBe(1);
    expect(leaderStateInHook).toBe('Z');
    await pollUntil(() => !alive(grandchild), 5000);
  });

  it('negative control: without the hook the grandchild outlives its leader', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'sleep 1000 & echo $!; read never_comes'], detach: 'session', stdio: ['pipe', 'pipe', 'inherit'] });
    const grandchild = Number(await firstLine(child));
    child.stdin!.end();
    await child.wait();
    expect(alive(grandchild)).toBe(true);
    // It was reparented to the init of this namespace (or a subreaper); we started it, so end it by pid.
    process.kill(grandchild, 'SIGKILL');
    await pollUntil(() => !alive(grandchild), 5000);
  });
});
