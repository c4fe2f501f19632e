// The two streamed formats of the API, read from a response as it arrives: newline-
// delimited JSON (followed logs) and server-sent events (the event stream).
import type { IncomingMessage } from 'node:http';

/** Each complete line of the body (without its newline); a last unterminated one too. */
export async function* lines(response: IncomingMessage): AsyncGenerator<string> {
  let pending = '';
  response.setEncoding('utf8');
  for await (const chunk of response as AsyncIterable<string>) {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  if (pending !== '') yield pending;
}

/** One dispatched server-sent event (an `id:` alone, with no data, is one too: it moves the resume point). */
export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
  retryMs: number | null;
}

/** Server-sent events as the WHATWG spec parses them (fields, comments, multi-line data). */
export async function* serverSentEvents(response: IncomingMessage): AsyncGenerator<SseMessage> {
  let id: string | null = null;
  let event = '';
  let data: string[] = [];
  let retryMs: number | null = null;
  for await (const raw of lines(response)) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      if (data.length > 0 || id !== null || retryMs !== null) yield { id, event: event || 'message', data: data.join('\n'), retryMs };
      id = null;
      event = '';
      data = [];
      retryMs = null;
      continue;
    }
    if (line.startsWith(':')) continue; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
  }
}
