// `pidvisor ui`: a link that opens the web dashboard, signed in.
// - Daemon on its unix socket (the default): no browser can reach a socket, so this command
//   opens a loopback port that forwards to it (ui-proxy.ts) and prints a one-time link, as
//   Jupyter does; it serves until Ctrl-C (SIGINT) or SIGTERM.
// - Daemon over TCP (--url, --token-file): the daemon serves the dashboard itself; this
//   asks it for a ticket (POST /v1/ui/tickets) and prints the link.
// Either way the link carries a single-use ticket in its fragment (never sent to a server,
// spent by the page at once): a copy left in the shell's scroll-back or the browser's
// history signs nobody in.
import { defaultSocketPath } from '../../../daemon/paths.js';
import { EXIT, UsageError, type Command } from '../command.js';
import { startUiProxy } from '../ui-proxy.js';

export const uiCommand: Command = {
  name: 'ui',
  summary: 'Open the web dashboard: print a one-time sign-in link (for a unix socket, serve it on a loopback port until Ctrl-C)',
  usage: 'ui [--port N] [--host ADDRESS] [connection options]',
  details: `Options:
  --port N            the loopback port to serve on (unix socket only; default: a free one)
  --host ADDRESS      the loopback address to serve on (default 127.0.0.1)

The link signs one browser in, once, within 5 minutes (the browser then holds an HttpOnly
session cookie); run the command again for another. With --url the daemon serves the
dashboard on its own TCP listener and this command only prints the link.`,
  options: { port: { type: 'string' }, host: { type: 'string' } },
  client: true,
  async run({ values, positionals, client, json, out }) {
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    if (values.url !== undefined) {
      if (values.port !== undefined || values.host !== undefined) throw new UsageError('--port and --host are for a unix socket; with --url the daemon serves the dashboard itself');
      const { body } = await client.json<{ path: string; expiresAt: string }>('POST', '/v1/ui/tickets');
      const url = new URL(body.path, values.url as string).href;
      out(json ? JSON.stringify({ url, expiresAt: body.expiresAt }) : `pidvisor dashboard: ${url}\nThe link signs in one browser, once, until ${body.expiresAt}.`);
      return EXIT.ok;
    }
    const port = parsePort(values.port as string | undefined);
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    if (!/^127\.\d+\.\d+\.\d+$|^::1$/.test(host)) throw new UsageError(`--host takes a loopback address (127.x.x.x or ::1), not ${JSON.stringify(host)}: the dashboard speaks plain HTTP`);
    await client.json('GET', '/v1/system'); // unreachable daemon: exit 3 now, not on the first click
    const proxy = await startUiProxy({ socketPath: (values.socket as string | undefined) ?? defaultSocketPath(), host, port });
    const url = proxy.signInUrl();
    out(json ? JSON.stringify({ url }) : `pidvisor dashboard: ${url}\nThe link signs in one browser, once, within 5 minutes. Ctrl-C stops the dashboard.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await proxy.close();
    return EXIT.ok;
  },
};

function parsePort(text: string | undefined): number {
  if (text === undefined) return 0;
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) throw new UsageError(`--port takes a number from 0 to 65535, not ${JSON.stringify(text)}`);
  return port;
}
