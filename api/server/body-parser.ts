// The only body parser: JSON, strictly. fastify's default answers a malformed body and a
// prototype-poisoning one with the same error; clients get distinct codes here. A key
// `__proto__` (which JSON.parse keeps as an own property) or `constructor.prototype` is
// refused outright, never stripped.
import { ApiError } from './errors.js';

export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new ApiError('PIDVISOR_ERR_INVALID_JSON', 'the body is empty; send JSON, or no body and no Content-Type');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError('PIDVISOR_ERR_INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  assertNoPrototypeKeys(value);
  return value;
}

/** Walks the parsed value without recursion: a deeply nested body cannot overflow the stack. */
export function assertNoPrototypeKeys(value: unknown): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
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
    for (const key of Object.keys(node)) pending.push((node as Record<string, unknown>)[key]);
  }
}

function poisoned(key: string): ApiError {
  return new ApiError('PIDVISOR_ERR_PROTO_POISONING', `the body has a ${key} key; it is refused, not stripped`);
}
