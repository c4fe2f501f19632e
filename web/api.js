// The daemon's HTTP API as the page uses it. The browser's session cookie (HttpOnly, set by
// POST /ui/session) authenticates every request; the page never holds the token itself
// beyond the one request that signs in.

/** A problem+json answer: `code` is the daemon's stable error code. */
export class Problem extends Error {
  constructor(status, body) {
    super(typeof body?.detail === 'string' ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.code = typeof body?.code === 'string' ? body.code : `HTTP_${status}`;
    this.body = body;
  }
}

export async function request(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

export const signInWithTicket = (ticket) => request('POST', '/ui/session', { ticket });
export const signInWithToken = (token) => request('POST', '/ui/session', undefined, { authorization: `Bearer ${token}` });
export const signOut = () => request('DELETE', '/ui/session');
export const system = () => request('GET', '/v1/system');
export const processes = async () => (await request('GET', '/v1/processes')).processes;
export const inspect = (id) => request('GET', `/v1/processes/${encodeURIComponent(id)}/inspect`);

/**
 * A button's request. Stop, restart and signal name the instance the page showed: if the
 * daemon has replaced it since, the answer is 409 and nothing is touched. Start needs no
 * instance: it is refused (409) whenever one runs.
 */
export function act(process, action, signal) {
  const path = `/v1/processes/${encodeURIComponent(process.id)}/${action}`;
  if (action === 'start') return request('POST', path, {});
  const instance = process.instance ?? undefined;
  if (action === 'signal') return request('POST', path, { signal, instance });
  return request('POST', path, instance === undefined ? {} : { instance });
}

/**
 * Follows a process's output (ndjson), calling `onRecord` with each record, its bytes
 * decoded. Resumes after the last record seen when the daemon drops a slow reader or the
 * connection breaks; stops when `signal` aborts or the process is removed.
 */
export async function followLogs(id, onRecord, signal, onState = () => {}) {
  const decoder = new TextDecoder();
  let after = null;
  for (let attempt = 0; !signal.aborted; attempt++) {
    const query = after === null ? 'follow=true&tail=500' : `follow=true&after=${after}`;
    let response;
    try {
      response = await fetch(`/v1/processes/${encodeURIComponent(id)}/logs?${query}`, { credentials: 'same-origin', cache: 'no-store', signal });
    } catch {
      if (signal.aborted) return;
      onState('reconnecting');
      await pause(Math.min(5000, 500 * (attempt + 1)), signal);
      continue;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Problem(response.status, body);
    }
    onState('following');
    attempt = 0;
    const reader = response.body.getReader();
    let pending = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split('\n');
        pending = lines.pop();
        for (const line of lines) {
          if (line === '') continue;
          const record = JSON.parse(line);
          if (typeof record.code === 'string') continue; // STREAM_BEHIND: resume below with `after`
          after = record.seq;
          onRecord({ ...record, text: decodeBase64(record.data) });
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    // A clean end without a farewell: the process was removed.
    if (response.status === 200 && pending === '') {
      const exists = await request('GET', `/v1/processes/${encodeURIComponent(id)}`).then(() => true, () => false);
      if (!exists) {
        onState('ended');
        return;
      }
    }
    onState('reconnecting');
    await pause(500, signal);
  }
}

function decodeBase64(data) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
