// The baseline server: a bare fastify app served the way the daemon serves its API (the
// app on a unix socket, plus an http.Server on loopback TCP that hands requests to the same
// app), with no hooks, no auth, no validation, no supervisor:
//   GET  /bare      a small JSON
//   POST /bare/run  spawns `true` with pidvisor's native spawn, answers once it is reaped
// Run by the bench as its own process: node dist/bench/api/bare-server.js SOCKET_PATH
// It prints one line, `ready <tcp port>`, once both listeners are up; SIGTERM closes it.
import http from 'node:http';
import type net from 'node:net';
import Fastify from 'fastify';
import { spawn } from '../../native/index.js';

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error('bare-server needs a socket path');

const app = Fastify({ logger: false });
app.get('/bare', async () => ({ status: 'ok', service: 'bare', n: 1 }));
app.post('/bare/run', async () => {
  const child = spawn({ command: 'true', stdio: ['null', 'null', 'null'], detach: 'session' });
  const exit = await child.wait();
  return { pid: child.pid, code: exit.code };
});
await app.listen({ path: socketPath });
const tcp = http.createServer((req, res) => app.routing(req, res));
await new Promise<void>((resolve, reject) => {
  tcp.once('error', reject);
  tcp.listen(0, '127.0.0.1', () => resolve());
});
process.stdout.write(`ready ${(tcp.address() as net.AddressInfo).port}\n`);

process.once('SIGTERM', () => {
  tcp.closeAllConnections();
  tcp.close();
  app.server.closeAllConnections();
  void app.close().then(() => process.exit(0));
});
