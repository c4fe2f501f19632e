// A real Supervisor in a temporary state directory, with its own cgroup subtree, torn down
// (every service stopped, every directory removed) after each test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Supervisor, type SupervisorOptions } from '../../daemon/supervisor.js';
import type { SupervisorEvent } from '../../daemon/events.js';
import { pollUntil } from './proc.js';

export interface TestSupervisor {
  supervisor: Supervisor;
  stateDir: string;
  cgroupName: string;
  events: SupervisorEvent[];
  close(): Promise<void>;
}

export function createTestSupervisor(options: Partial<SupervisorOptions> = {}): TestSupervisor {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-state-'));
  const cgroupName = `pidvisor-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const supervisor = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName, ...options });
  const events: SupervisorEvent[] = [];
  supervisor.events.subscribe(0, (event) => events.push(event));
  return {
    supervisor,
    stateDir,
    cgroupName,
    events,
    async close() {
      await supervisor.shutdown(); // also removes its (empty) cgroup root
      const root = supervisor.system().cgroupRoot;
      if (root !== null && fs.existsSync(root)) throw new Error(`cgroup root ${root} was left behind`);
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the service reaches `state` (bounded), returning its info. */
export async function waitForState(supervisor: Supervisor, ref: string, state: string, timeoutMs = 10_000): Promise<void> {
  await pollUntil(() => supervisor.get(ref).state === state, timeoutMs);
}
