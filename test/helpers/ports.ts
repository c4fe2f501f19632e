// Loopback ports for tests that start servers (probes' targets, a config service's listener).
import net from 'node:net';

/** A loopback port nobody listens on now: the kernel's pick, released at once. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
