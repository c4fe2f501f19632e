// Shared by the API tests: an app around a real Supervisor in a temp dir, and what this
// process has started (its child pids, read from /proc).
import fs from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { expect } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions, type PidvisorApp } from '../../api/server/index.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';
import type { SupervisorOptions } from '../../daemon/supervisor.js';
import type { SupervisorApi } from '../../api/supervisor-api.js';

// The responses carry ISO timestamps; TypeBox's Value checks formats only once told how.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (value) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value));

export interface ApiFixture extends TestSupervisor {
  app: PidvisorApp;
}

export async function createApi(appOptions: AppOptions = {}, supervisorOptions: Partial<SupervisorOptions> = {}): Promise<ApiFixture> {
  const fixture = createTestSupervisor(supervisorOptions);
  const app = buildApp(fixture.supervisor, { rateLimit: false, ...appOptions });
  await app.ready();
  return {
    ...fixture,
    app,
    async close() {
      await app.close();
      await fixture.close();
    },
  };
}

/** Pids of the live children of this process (every thread's), sorted. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      const text = fs.readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim();
      if (text.length > 0) pids.push(...text.split(' ').map(Number));
    } catch {
      // the thread ended while we looked
    }
  }
  return pids.sort((a, b) => a - b);
}

/** A SupervisorApi that forwards to `target`, except for `overrides`. */
export function delegate(target: SupervisorApi, overrides: Partial<SupervisorApi>): SupervisorApi {
  return {
    events: target.events,
    system: () => target.system(),
    list: () => target.list(),
    get: (ref) => target.get(ref),
    refreshUsage: (ref) => target.refreshUsage(ref),
    service: (ref) => target.service(ref),
    launch: (spec, options) => target.launch(spec, options),
    launchMany: (specs) => target.launchMany(specs),
    removeMatching: (labels, timeoutMs) => target.removeMatching(labels, timeoutMs),
    start: (ref) => target.start(ref),
    stop: (ref, timeoutMs, options) => target.stop(ref, timeoutMs, options),
    restart: (ref, timeoutMs, options) => target.restart(ref, timeoutMs, options),
    remove: (ref, timeoutMs) => target.remove(ref, timeoutMs),
    signal: (ref, signal, options) => target.signal(ref, signal, options),
    wait: (ref) => target.wait(ref),
    graph: () => target.graph(),
    ...overrides,
  };
}

export function json(response: LightMyRequestResponse): any {
  return JSON.parse(response.body);
}

/** Asserts a problem response: status, code, the problem+json shape. */
export function expectProblem(response: LightMyRequestResponse, status: number, code: string): any {
  expect({ status: response.statusCode, body: response.body.slice(0, 500) }).toMatchObject({ status });
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = json(response);
  expect(body).toMatchObject({ status, code, type: expect.stringMatching(/^urn:pidvisor:problem:/), title: expect.any(String), detail: expect.any(String) });
  return body;
}

export function expectSchema(schema: TSchema, value: unknown): void {
  const errors = [...Value.Errors(schema, value)].slice(0, 5).map((e) => `${e.path}: ${e.message}`);
  expect(errors).toEqual([]);
}

export const sleepSpec = (name: string, extra: Record<string, unknown> = {}) => ({ name, command: ['sleep', '1000'], stopTimeoutMs: 2000, ...extra });
