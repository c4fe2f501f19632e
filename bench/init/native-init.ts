// A lower bound for `pidvisor init`, for the benchmark only: Node, the pidvisor addon and
// nothing else (no CLI, no logger, no supervisor, no fastify). It reaps orphans, runs the
// main command in its own process group and exits with its status; it forwards no signals.
// What `pidvisor init` could cost if its path loaded only native/. Usage: native-init.js CMD [ARGS...]
import { OrphanReaper, spawn } from '../../native/index.js';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('usage: native-init.js COMMAND [ARGS...]\n');
  process.exit(2);
}
const reaper = new OrphanReaper();
reaper.start();
const child = spawn({ command, args, detach: 'group', stdio: ['inherit', 'inherit', 'inherit'] });
const exit = await child.wait();
reaper.sweep();
reaper.stop();
process.exitCode = exit.code ?? 128 + (exit.signalNumber ?? 0);
