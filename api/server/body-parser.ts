// The only body parser: JSON, strictly. fastify's default answers a malformed body and a
// prototype-poisoning one with the same error; clients get distinct codes here. A key
// `__proto__` (which JSON.parse keeps as an own property) or `constructor.prototype` is
// refused outright, never stripped.
//
// Text is UTF-8 and nothing else (RFC 8259 section 8.1): another charset is refused (415),
// and so are bytes that are not UTF-8 and strings with a lone surrogate (`"\ud800"`, which
// JSON's escapes allow): decoding them would silently turn them into U+FFFD, so a name, an
// argument or an environment value would not be what the client sent.
import { ApiError } from './errors.js';

// ignoreBOM keeps a byte order mark in the text, where JSON.parse refuses it (RFC 8259: none is sent).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  assertUtf8Charset(contentType);
  if (body.length === 0) throw new ApiError('PIDVISOR_ERR_INVALID_JSON', 'the body is empty; send JSON, or no body and no Content-Type');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ApiError('PIDVISOR_ERR_INVALID_JSON', 'the body is not valid UTF-8; it is refused, not repaired');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError('PIDVISOR_ERR_INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  assertCleanTree(value);
  return value;
}

/** `application/json` alone, or with `charset=utf-8` (any case, quoted or not). */
function assertUtf8Charset(contentType: string | undefined): void {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  if (match === null || match[1]!.toLowerCase() === 'utf-8' || match[1]!.toLowerCase() === 'utf8') return;
  throw new ApiError('PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE', `charset ${JSON.stringify(match[1]!.slice(0, 40))} is not accepted; send UTF-8 (application/json or application/json; charset=utf-8)`);
}

/**
 * Walks the parsed value without recursion (a deeply nested body cannot overflow the stack):
 * no prototype keys, and every string and key well-formed UTF-16.
 */
export function assertCleanTree(value: unknown): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node === 'string') {
      assertWellFormed(node);
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      for (const item of node) pending.push(item); // not push(...node): too many arguments for a long array
      continue;
    }
    if (Object.hasOwn(node, '__proto__')) throw poisoned('__proto__');
    const ctor = (node as Record<string, unknown>).constructor;
    if (Object.hasOwn(node, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) {
      throw poisoned('constructor.prototype');
    }
    for (const key of Object.keys(node)) {
      assertWellFormed(key);
      pending.push((node as Record<string, unknown>)[key]);
    }
  }
}

function assertWellFormed(text: string): void {
  // String.prototype.isWellFormed: V8 11.4, Node 20.
  if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new ApiError('PIDVISOR_ERR_INVALID_JSON', 'the body has a string with a lone surrogate (an unpaired \\ud800-\\udfff escape); it is refused, not replaced');
  }
}

function poisoned(key: string): ApiError {
  return new ApiError('PIDVISOR_ERR_PROTO_POISONING', `the body has a ${key} key; it is refused, not stripped`);
}
