// Type=notify (contrib/systemd/pidvisor.service): pidvisor-keeper, the unit's main process,
// sends READY=1 to $NOTIFY_SOCKET once the daemon serves its API, and STOPPING=1 when it stops;
// the daemon's services never see systemd's socket. The receiving end is a unix datagram
// socket bound by python3 (Node has none), as systemd's would be.
import { spawn as spawnWithLibuv, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PidvisorClient } from '../../client/index.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';
import { missingTool } from '../helpers/tools.js';

const reason = pidfdUnsupportedReason() ?? missingTool('python3', 'python3');
const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

let dir = '';
let daemon: DaemonProcess | null = null;
let receiver: ChildProcessWithoutNullStreams | null = null;

afterEach(async () => {
  await daemon?.stop('SIGTERM');
  daemon = null;
  if (receiver !== null && receiver.exitCode === null) {
    const exited = new Promise((resolve) => receiver!.once('exit', resolve));
    receiver.kill('SIGKILL');
    await exited;
  }
  receiver = null;
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

/** A datagram socket at `socketPath`; each message received becomes one entry of the list. */
async function notifyReceiver(socketPath: string): Promise<string[]> {
  const messages: string[] = [];
  receiver = spawnWithLibuv('python3', ['-c', RECEIVER, socketPath]);
  let pending = '';
  receiver.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    messages.push(...lines);
  });
  await pollUntil(() => messages.includes('bound'), 10_000);
  messages.splice(0);
  return messages;
}

describe.skipIf(reason !== null)(`systemd notification by the keeper${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('says READY=1 once the API answers and STOPPING=1 at stop; services do not inherit NOTIFY_SOCKET', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-notify-'));
    const messages = await notifyReceiver(path.join(dir, 'notify.sock'));
    const socketPath = path.join(dir, 'api.sock');
    daemon = startDaemonProcess(['--socket', socketPath, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-notify-${process.pid}`], {
      env: { NOTIFY_SOCKET: path.join(dir, 'notify.sock') },
    });
    await pollUntil(() => messages.length > 0, 30_000);
    expect(messages).toEqual(['READY=1']);
    // Ready means serving: the first request, not retried, is answered.
    const client = new PidvisorClient({ socketPath, retry: { attempts: 1 } });
    expect(await client.health()).toEqual({ status: 'ok' });

    const probe = await client.launch({ command: ['sh', '-c', 'echo "${NOTIFY_SOCKET-unset}"'], restart: { policy: 'no' } });
    await client.wait(probe.id);
    let output = '';
    for (let tries = 0; output === '' && tries < 200; tries++) {
      output = (await client.logs(probe.id)).map((r) => r.data.toString()).join('');
      if (output === '') await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(output).toBe('unset');
    client.close();

    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = null;
    await pollUntil(() => messages.length === 2, 10_000);
    expect(messages).toEqual(['READY=1', 'STOPPING=1']);
  });
});
