// Keeps the error catalogue, the code that raises errors and the OpenAPI document in step:
// every code is unique and well formed, every code the source names is in the catalogue,
// every supervisor code is mapped, and every code is documented with its status.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, ERRORS, ERROR_CODES, STREAM_ERROR_CODES, SUPERVISOR_ERRORS, TRANSPORT_ERROR_CODES, problemType, type PidvisorApp } from '../../api/server/index.js';
import { ErrorCodeSchema } from '../../api/server/schemas.js';
import type { SupervisorApi } from '../../api/supervisor-api.js';
import { EventLog } from '../../daemon/events.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const serverDir = path.join(root, 'api/server');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

// The document needs no running process: a supervisor that is never called.
const idle = { events: new EventLog() } as unknown as SupervisorApi;
let app: PidvisorApp;
let doc: any;

beforeAll(async () => {
  app = buildApp(idle, { logger: pino({ level: 'silent' }) });
  doc = JSON.parse((await app.inject('/openapi.json')).body);
});
afterAll(() => app.close());

/** status -> codes documented for one operation. */
function documentedErrors(operation: any): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [status, response] of Object.entries<any>(operation.responses)) {
    const schema = response.content?.['application/problem+json']?.schema;
    if (schema !== undefined) out.set(Number(status), schema.allOf[1].properties.code.enum);
  }
  return out;
}

const operations = () => Object.values<any>(doc.paths).flatMap((methods) => Object.values<any>(methods));

describe('error catalogue', () => {
  it('has unique, well-formed codes with error statuses and unique problem types', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^PIDVISOR_ERR_[A-Z][A-Z_]*[A-Z]$/);
      const { status, title } = ERRORS[code];
      expect(status >= 400 && status < 600, code).toBe(true);
      expect(http.STATUS_CODES[status], code).toBeDefined();
      expect(title.length).toBeGreaterThan(5);
    }
    expect(new Set(ERROR_CODES.map(problemType)).size).toBe(ERROR_CODES.length);
    // The type the routes are checked against lists exactly the catalogue.
    expect(ErrorCodeSchema.anyOf.map((s: { const: string }) => s.const)).toEqual(ERROR_CODES);
  });

  it('maps every supervisor error code (as declared in daemon/errors.ts)', () => {
    const source = fs.readFileSync(path.join(root, 'daemon/errors.ts'), 'utf8');
    const union = /export type SupervisorErrorCode =([^;]+);/.exec(source)![1]!;
    const declared = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(Object.keys(SUPERVISOR_ERRORS).sort()).toEqual([...declared].sort());
    for (const code of Object.values(SUPERVISOR_ERRORS)) expect(ERROR_CODES).toContain(code);
  });

  it('names no code in the source that the catalogue lacks, and leaves none unused', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(serverDir)) {
      const text = fs.readFileSync(file, 'utf8');
      // The catalogue's own table defines codes; everything else uses them.
      const body = file.endsWith('errors.ts') ? text.replace(/export const ERRORS = \{[\s\S]*?\n\} as const/, '') : text;
      for (const match of body.matchAll(/PIDVISOR_ERR_[A-Z_]+/g)) used.add(match[0]);
    }
    for (const code of used) expect(ERROR_CODES, `${code} is used but not in the catalogue`).toContain(code);
    for (const code of ERROR_CODES) expect(used.has(code), `${code} is in the catalogue but never used`).toBe(true);
  });

  it('documents every code in openapi.json, each at its status', () => {
    const catalogue = doc.components['x-pidvisor-errors'];
    expect(catalogue.map((e: { code: string }) => e.code)).toEqual(ERROR_CODES);
    for (const entry of catalogue) expect(entry).toMatchObject({ status: ERRORS[entry.code as keyof typeof ERRORS].status, type: problemType(entry.code) });
    expect(doc.components.schemas.ErrorCode.anyOf.map((s: { const: string }) => s.const)).toEqual(ERROR_CODES);

    const inResponses = new Set<string>();
    for (const operation of operations()) {
      for (const [status, codes] of documentedErrors(operation)) {
        for (const code of codes) {
          expect(ERRORS[code as keyof typeof ERRORS].status, `${operation.operationId}: ${code}`).toBe(status);
          inResponses.add(code);
        }
      }
    }
    // Every code a route can send is in some route's responses; the rest come from the HTTP
    // layer, or inside a stream (named in the description of every streaming route).
    for (const code of ERROR_CODES) {
      if (!inResponses.has(code)) expect([...TRANSPORT_ERROR_CODES, ...STREAM_ERROR_CODES], `${code} is documented nowhere`).toContain(code);
    }
    for (const operationId of ['streamEvents', 'getProcessLogs']) {
      const operation = operations().find((o) => o.operationId === operationId);
      for (const code of STREAM_ERROR_CODES) expect(operation.description, operationId).toContain(code);
    }
  });

  it('documents what each route declares, and the document is well formed', () => {
    const ids = operations().map((operation) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const route of app.pidvisor.routes) {
      const operation = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')][route.method.toLowerCase()];
      const documented = [...documentedErrors(operation).values()].flat();
      for (const code of route.doc.errors) expect(documented, `${route.method} ${route.url}`).toContain(code);
      for (const param of route.url.matchAll(/:(\w+)/g)) {
        expect(operation.parameters.find((p: { name: string; in: string }) => p.in === 'path' && p.name === param[1])).toBeDefined();
      }
      expect(Object.keys(operation.responses).some((status) => status.startsWith('2'))).toBe(true);
    }
    // Every $ref points at a component.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    for (const name of refs) expect(doc.components.schemas).toHaveProperty(name);
  });
});
