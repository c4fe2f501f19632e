// Browser sessions of the dashboard. A browser cannot put the bearer token on an
// EventSource, and a token in a URL ends up in history, logs and Referer headers. So the
// browser trades something it was given once for a session cookie:
// - the daemon's token, typed into the page and sent once as `Authorization: Bearer`, or
// - a ticket: random, single use, short-lived, minted for a caller that is already
//   authenticated (`pidvisor ui`), carried in the URL's fragment (never sent to a server)
//   and spent by the page's script at once, so a copy left in history opens nothing.
// The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page
// sends it); requests that change something must also come from the daemon's own origin.
// Only digests of tickets and sessions are kept: a heap dump holds nothing to replay.
import { createHash, randomBytes } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';

export const SESSION_COOKIE = 'pidvisor_session';

export interface UiSessionOptions {
  /** How long a ticket may wait to be spent; default 5 minutes. */
  ticketTtlMs: number;
  /** How long a session lasts from its creation; default 12 hours. */
  sessionTtlMs: number;
  /** Tickets and sessions kept at most, each; the oldest give way. Default 256. */
  maxEntries: number;
}

const DEFAULTS: UiSessionOptions = { ticketTtlMs: 5 * 60_000, sessionTtlMs: 12 * 3_600_000, maxEntries: 256 };

export class UiSessions {
  readonly #options: UiSessionOptions;
  /** digest -> expiry (ms since the epoch), oldest first. */
  readonly #tickets = new Map<string, number>();
  readonly #sessions = new Map<string, number>();

  constructor(options: Partial<UiSessionOptions> = {}) {
    this.#options = { ...DEFAULTS, ...options };
  }

  issueTicket(now = Date.now()): { ticket: string; expiresAt: string } {
    const ticket = secret();
    const expiresAt = now + this.#options.ticketTtlMs;
    remember(this.#tickets, digest(ticket), expiresAt, this.#options.maxEntries, now);
    return { ticket, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Spends a ticket: true once for a ticket issued and not expired, false ever after. */
  redeemTicket(ticket: string, now = Date.now()): boolean {
    const key = digest(ticket);
    const expiresAt = this.#tickets.get(key);
    this.#tickets.delete(key);
    return expiresAt !== undefined && expiresAt > now;
  }

  /** A new session: its id (the cookie's value) and how long it lasts. */
  createSession(now = Date.now()): { id: string; maxAgeSeconds: number } {
    const id = secret();
    remember(this.#sessions, digest(id), now + this.#options.sessionTtlMs, this.#options.maxEntries, now);
    return { id, maxAgeSeconds: Math.floor(this.#options.sessionTtlMs / 1000) };
  }

  /** Is the session cookie in this Cookie header a live session? */
  hasSession(cookieHeader: string | undefined, now = Date.now()): boolean {
    const id = sessionIdOf(cookieHeader);
    if (id === null) return false;
    const expiresAt = this.#sessions.get(digest(id));
    return expiresAt !== undefined && expiresAt > now;
  }

  /** Ends the session of this Cookie header, if any. */
  endSession(cookieHeader: string | undefined): void {
    const id = sessionIdOf(cookieHeader);
    if (id !== null) this.#sessions.delete(digest(id));
  }
}

/** The Set-Cookie value that hands a session to the browser (Secure over TLS). */
export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return stringifySetCookie(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/', maxAge: maxAgeSeconds, secure });
}

/** The Set-Cookie value that makes the browser forget its session. */
export function clearedSessionCookie(secure: boolean): string {
  return stringifySetCookie(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/', maxAge: 0, secure });
}

/**
 * Did the browser send this request from a page of `origin` itself? An Origin header that
 * names it, or none with Sec-Fetch-Site same-origin (a same-origin GET carries no Origin).
 * A request without either did not come from a current browser's page script.
 */
export function isSameOrigin(headers: { origin?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined }, origin: string): boolean {
  if (headers.origin !== undefined) return headers.origin === origin;
  return headers['sec-fetch-site'] === 'same-origin';
}

function sessionIdOf(cookieHeader: string | undefined): string | null {
  if (cookieHeader === undefined || cookieHeader.length > 8192) return null;
  const id = parseCookie(cookieHeader)[SESSION_COOKIE];
  return id === undefined || id.length === 0 || id.length > 128 ? null : id;
}

function remember(entries: Map<string, number>, key: string, expiresAt: number, max: number, now: number): void {
  for (const [old, expiry] of entries) {
    if (expiry > now && entries.size < max) break;
    entries.delete(old); // expired, or the oldest when full (entries are in the order made)
  }
  entries.set(key, expiresAt);
}

function secret(): string {
  return randomBytes(32).toString('base64url');
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
