// The daemon the keeper RSS bench runs under pidvisor-keeper: the first one spawns N sleeping
// children and deposits their pidfds; a later one (after the bench kills the first) only
// reports what it was handed. Either stops on SIGTERM, saying STOPPING.
import fs from 'node:fs';
import { attachToKeeper, daemonStarted, daemonStopping } from '../../daemon/keeper.js';
import { spawn } from '../../native/index.js';

const count = Number(process.argv[3] ?? '1000');
const channel = attachToKeeper();
if (channel === null) throw new Error('run me under pidvisor-keeper');
let items = 0;
channel.listen({
  onItem(_entry, fd) {
    items++;
    fs.closeSync(fd);
  },
  onInventoryEnd() {
    process.on('SIGTERM', () => {
      daemonStopping();
      process.exit(0);
    });
    daemonStarted();
    if (items > 0) {
      process.stdout.write(`${JSON.stringify({ event: 'took-over', items })}\n`);
      return;
    }
    void (async () => {
      const pids: number[] = [];
      for (let i = 0; i < count; i++) {
        const child = spawn({ command: 'sleep', args: ['600'], stdio: ['null', 'null', 'null'] });
        await channel.deposit({ key: BigInt(i), kind: 'PIDFD', record: Buffer.from(`bench child ${i}`) }, child.pidfd);
        pids.push(child.pid);
      }
      process.stdout.write(`${JSON.stringify({ event: 'deposited', pids })}\n`);
    })();
  },
});
