// The OpenAPI 3.1 document, generated from the routes as registered: their TypeBox schemas
// (params, query, headers, body, responses) and what each route declares in
// `config.openapi` (summary, the error codes it answers with, non-JSON bodies). Shared
// schemas become components; every error code of the catalogue is listed.
import type { TSchema } from '@sinclair/typebox';
import type { RouteOptions } from 'fastify';
import { ERRORS, ERROR_CODES, problemType, TRANSPORT_ERROR_CODES, type ErrorCode } from './errors.js';
import { COMPONENTS } from './schemas.generated.js';

/** What a route tells the document besides its schemas. */
export interface RouteDoc {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Error codes of this route, besides those every route may answer with. */
  errors: ErrorCode[];
  /** Success bodies that are not JSON objects: status -> media type -> schema. */
  content?: Record<number, { description: string; content: Record<string, { schema: TSchema | Record<string, unknown> }> }>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    openapi?: RouteDoc;
  }
}

export interface RouteRecord {
  method: string;
  url: string;
  schema: RouteOptions['schema'];
  doc: RouteDoc;
}

/** Errors any route may answer with (the guards run before every route). */
export const COMMON_ERRORS: readonly ErrorCode[] = [
  'PIDVISOR_ERR_CROSS_ORIGIN',
  'PIDVISOR_ERR_FORBIDDEN',
  'PIDVISOR_ERR_UNAUTHORIZED',
  'PIDVISOR_ERR_RATE_LIMITED',
  'PIDVISOR_ERR_SHUTTING_DOWN',
  'PIDVISOR_ERR_INTERNAL',
];
/** Errors of any request with a body. */
export const BODY_ERRORS: readonly ErrorCode[] = [
  'PIDVISOR_ERR_INVALID_JSON',
  'PIDVISOR_ERR_PROTO_POISONING',
  'PIDVISOR_ERR_PAYLOAD_TOO_LARGE',
  'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
];

/** The error codes a route may answer with, all of them. */
export function routeErrors(route: RouteRecord): ErrorCode[] {
  const codes = new Set<ErrorCode>([...route.doc.errors, ...COMMON_ERRORS]);
  const schema = route.schema ?? {};
  if (schema.params !== undefined || schema.querystring !== undefined || schema.headers !== undefined || schema.body !== undefined) codes.add('PIDVISOR_ERR_VALIDATION');
  if (route.method !== 'GET') for (const code of BODY_ERRORS) codes.add(code);
  return ERROR_CODES.filter((code) => codes.has(code));
}

export function collectRoute(routes: RouteRecord[], options: RouteOptions): void {
  const doc = options.config?.openapi;
  if (doc === undefined) throw new Error(`route ${String(options.method)} ${options.url} has no config.openapi: every route is documented`);
  for (const method of [options.method].flat()) routes.push({ method, url: options.url, schema: options.schema, doc });
}

export function openApiDocument(routes: readonly RouteRecord[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(COMPONENTS)) schemas[name] = toJson(schema, schema);
  return {
    openapi: '3.1.0',
    info: {
      title: 'pidvisor',
      version,
      description:
        'Process supervisor API. Served on a unix socket (callers known by SO_PEERCRED) and optionally over TCP with a bearer token. Every error is application/problem+json with a stable `code`; the catalogue is in components.x-pidvisor-errors.',
    },
    servers: [{ url: 'http://localhost', description: 'the unix socket, or the TCP listener' }],
    security: [{}, { bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required over TCP; not used on the unix socket.' } },
      'x-pidvisor-errors': ERROR_CODES.map((code) => ({
        code,
        status: ERRORS[code].status,
        title: ERRORS[code].title,
        type: problemType(code),
        transport: TRANSPORT_ERROR_CODES.includes(code),
      })),
    },
  };
}

function operation(route: RouteRecord): Record<string, unknown> {
  const schema = route.schema ?? {};
  const op: Record<string, unknown> = {
    operationId: route.doc.operationId,
    summary: route.doc.summary,
    ...(route.doc.description === undefined ? {} : { description: route.doc.description }),
    tags: route.doc.tags,
  };
  const parameters = [
    ...parametersOf(schema.params, 'path'),
    ...parametersOf(schema.querystring, 'query'),
    ...parametersOf(schema.headers, 'header'),
  ];
  if (parameters.length > 0) op.parameters = parameters;
  if (schema.body !== undefined) {
    const body = schema.body as TSchema;
    const optional = Array.isArray(body.anyOf) && body.anyOf.some((s: TSchema) => s.type === 'null');
    op.requestBody = { required: !optional, content: { 'application/json': { schema: toJson(body) } } };
  }
  op.responses = { ...successResponses(route), ...errorResponses(routeErrors(route)) };
  return op;
}

function successResponses(route: RouteRecord): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  const declared = (route.schema?.response ?? {}) as Record<string, TSchema>;
  for (const [status, schema] of Object.entries(declared)) {
    responses[status] = { description: schema.description ?? 'OK', content: { 'application/json': { schema: toJson(schema) } } };
  }
  for (const [status, { description, content }] of Object.entries(route.doc.content ?? {})) {
    responses[status] = {
      description,
      content: Object.fromEntries(Object.entries(content).map(([type, { schema }]) => [type, { schema: toJson(schema) }])),
    };
  }
  return responses;
}

/** One response per status (OpenAPI allows no more); its `code` is one of the listed codes. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code]);
  const responses: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: list.map((code) => `${code}: ${ERRORS[code].title}`).join('; '),
      content: {
        'application/problem+json': {
          schema: { allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: { code: { enum: list } } }] },
        },
      },
    };
  }
  return responses;
}

function parametersOf(schema: unknown, where: 'path' | 'query' | 'header'): Array<Record<string, unknown>> {
  const object = schema as { properties?: Record<string, TSchema>; required?: string[] } | undefined;
  if (object?.properties === undefined) return [];
  return Object.entries(object.properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    ...(property.description === undefined ? {} : { description: property.description }),
    schema: toJson(property),
  }));
}

/**
 * A schema as plain JSON: TypeBox's symbol keys dropped, and the shared schemas (by
 * identity, or by a $ref to the $id they are validated under: `ServiceSpec#`) replaced by
 * $refs to the components, except `self`, the one being defined.
 */
function toJson(schema: unknown, self?: unknown): unknown {
  const names = new Map<unknown, string>(Object.entries(COMPONENTS).map(([name, s]) => [s, name]));
  const visit = (node: unknown): unknown => {
    if (node !== self && names.has(node)) return { $ref: `#/components/schemas/${names.get(node)}` };
    const idRef = componentOfIdRef(node);
    if (idRef !== null) return { $ref: `#/components/schemas/${idRef}` };
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.keys(node).map((key) => [key, visit((node as Record<string, unknown>)[key])]));
  };
  return visit(schema);
}

/** The component a `{ $ref: "Name#" }` (a schema given to ajv under its $id, app.ts) stands for. */
function componentOfIdRef(node: unknown): string | null {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return null;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref !== 'string' || !ref.endsWith('#')) return null;
  const name = ref.slice(0, -1);
  if (!Object.hasOwn(COMPONENTS, name)) throw new Error(`schema $ref ${JSON.stringify(ref)} names no component`);
  return name;
}
