// The YAML config: validated with the launch schema, with errors that name the entry and field.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../daemon/config.js';

describe('config files', () => {
  it('reads services keyed by name', () => {
    const config = parseConfig(`
services:
  web:
    command: [python3, -m, http.server]
    restart: { policy: always }
  worker:
    command: ["sh", "-c", "echo hi"]
    env: { MODE: fast }
`);
    expect(Object.keys(config.services)).toEqual(['web', 'worker']);
    expect(config.services.web).toEqual({ name: 'web', command: ['python3', '-m', 'http.server'], restart: { policy: 'always' } });
  });

  it('accepts an empty file as no services', () => {
    expect(parseConfig('')).toEqual({ services: {} });
    expect(parseConfig('services: {}')).toEqual({ services: {} });
  });

  it.each([
    ['unknown top-level key', 'servces: {}', /unknown top-level key "servces"/],
    ['unknown field', 'services:\n  a:\n    command: ["true"]\n    restrat: {}', /services\.a\.restrat: Unexpected property/],
    ['wrong type', 'services:\n  a:\n    command: ["true"]\n    stopTimeoutMs: "9"', /services\.a\.stopTimeoutMs: Expected integer/],
    ['empty command', 'services:\n  a:\n    command: []', /services\.a\.command/],
    ['bad name', 'services:\n  "bad name":\n    command: ["true"]', /not a valid name/],
    ['mismatched name', 'services:\n  a:\n    name: b\n    command: ["true"]', /must be omitted or equal to the key/],
    ['duplicate key', 'services:\n  a:\n    command: ["true"]\n  a:\n    command: ["false"]', /Map keys must be unique/],
    ["YAML syntax", "services: [", /test\.yaml: /],
    ['a list at the top', '- a', /top level must be a mapping/],
  ])('rejects %s', (_, text, message) => {
    expect(() => parseConfig(text, 'test.yaml')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(message) }));
  });
});

describe('YAML types are not repaired', () => {
  it('rejects a bare YAML boolean where a string is required', () => {
    expect(() => parseConfig('services:\n  a:\n    command: [true]')).toThrow(/command\.0: Expected string/);
  });
});

describe('the service schema', () => {
  it.each([
    ['an env name with "="', { env: { 'A=B': 'x' } }],
    ['an empty env name', { env: { '': 'x' } }],
    ['an env value with NUL', { env: { A: 'x\u0000y' } }],
    ['an empty label name', { labels: { '': 'x' } }],
  ])('rejects %s in a config file too', (_, extra) => {
    const yaml = JSON.stringify({ services: { a: { command: ['true'], ...extra } } });
    expect(() => parseConfig(yaml)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
