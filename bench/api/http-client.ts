// A lean HTTP client for the bench: one keep-alive agent per target, over the daemon's unix
// socket or over loopback TCP with the bearer token. Bodies are read whole.
import http from 'node:http';

export type Transport = 'unix' | 'tcp';

export interface Target {
  transport: Transport;
  /** For messages: unix:PATH or http://HOST:PORT. */
  label: string;
  agent: http.Agent;
  base: http.RequestOptions;
  headers: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Per request: a bench loop must never hang on one. */
const REQUEST_TIMEOUT_MS = 60_000;

export function unixTarget(socketPath: string, maxSockets: number): Target {
  return {
    transport: 'unix',
    label: `unix:${socketPath}`,
    agent: new http.Agent({ keepAlive: true, maxSockets }),
    base: { socketPath },
    headers: {},
  };
}

export function tcpTarget(host: string, port: number, token: string | null, maxSockets: number): Target {
  return {
    transport: 'tcp',
    label: `http://${host}:${port}`,
    agent: new http.Agent({ keepAlive: true, maxSockets }),
    base: { host, port },
    headers: { host: `${host}:${port}`, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
  };
}

export function closeTarget(target: Target): void {
  target.agent.destroy();
}

export function request(target: Target, method: string, path: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { ...target.headers };
  if (payload !== null) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request({ ...target.base, agent: target.agent, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path} on ${target.label}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/** The body as JSON; throws with the status and body when the status is not `expected`. */
export async function requestJson<T>(target: Target, method: string, path: string, body: unknown, expected: number): Promise<T> {
  const reply = await request(target, method, path, body);
  if (reply.status !== expected) throw new UnexpectedStatus(method, path, reply);
  return JSON.parse(reply.body.toString('utf8')) as T;
}

export class UnexpectedStatus extends Error {
  override name = 'UnexpectedStatus';
  readonly status: number;
  readonly retryAfterMs: number | null;

  constructor(method: string, path: string, reply: Reply) {
    super(`${method} ${path}: HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`);
    this.status = reply.status;
    const retryAfter = Number(reply.headers['retry-after']);
    this.retryAfterMs = Number.isFinite(retryAfter) ? retryAfter * 1000 : null;
  }
}
