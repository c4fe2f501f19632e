// Reading streamed responses of the daemon line by line (NDJSON logs, server-sent events).
import type { IncomingMessage } from 'node:http';
import { ApiError, readAll } from './client.js';

/** Calls `onLine` for each complete line of a streamed response, until it ends. */
export function eachLine(response: IncomingMessage, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      try {
        while ((newline = pending.indexOf('\n')) >= 0) {
          onLine(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        }
      } catch (error) {
        response.destroy();
        reject(error);
      }
    });
    response.on('end', () => {
      try {
        if (pending !== '') onLine(pending);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
    response.on('error', reject);
  });
}

/** The response, or the daemon's problem as an ApiError. */
export async function checked(response: IncomingMessage): Promise<IncomingMessage> {
  if ((response.statusCode ?? 500) < 400) return response;
  const text = await readAll(response);
  throw new ApiError(response.statusCode ?? 500, text === '' ? {} : (JSON.parse(text) as Record<string, unknown>));
}
