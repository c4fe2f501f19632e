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
    expect(parseConfig('').services).toEqual({});
    expect(parseConfig('services: {}').services).toEqual({});
  });

  it.each([
    ['unknown top-level key', 'servces: {}', /unknown top-level key "servces"/],
    ['unknown field', 'services:\n  a:\n    command: ["true"]\n    restrat: {}', /services\.a\.restrat: unknown field "restrat"; allowed: name, command, /],
    ['wrong type', 'services:\n  a:\n    command: ["true"]\n    stopTimeoutMs: "9"', /services\.a\.stopTimeoutMs: must be an integer from 0 to 3600000, not a string/],
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
    expect(() => parseConfig('services:\n  a:\n    command: [true]')).toThrow(/command\.0: must be a string, not the boolean true/);
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

describe('a refused file says where, what and what is allowed', () => {
  const problemsOf = (text: string): unknown => {
    try {
      parseConfig(text, 'f.yaml');
    } catch (error) {
      return (error as { details: { problems: unknown } }).details.problems;
    }
    throw new Error('the file was accepted');
  };

  it('names the line and column, the field, and the values of an enumeration', () => {
    expect(problemsOf('services:\n  web:\n    command: [sleep, "1"]\n    restart:\n      policy: sometimes\n')).toEqual([
      { path: 'services.web.restart.policy', line: 5, column: 7, message: 'must be one of "no", "on-failure", "always" (got "sometimes")', allowed: ['no', 'on-failure', 'always'] },
    ]);
  });

  it('lists the fields of an object for an unknown one, and a missing field once, at its parent', () => {
    const problems = problemsOf('services:\n  web:\n    comand: [sleep, "1"]\n') as Array<Record<string, unknown>>;
    expect(problems.map((p) => [p.path, p.line, p.message])).toEqual([
      ['services.web.command', 2, 'is required'],
      ['services.web.comand', 3, expect.stringMatching(/^unknown field "comand"; allowed: name, command, env, /)],
    ]);
    expect(problems[1]!.allowed).toContain('command');
  });

  it('describes the alternatives of a union instead of "Expected union value"', () => {
    expect(problemsOf('services:\n  web:\n    command: [sleep, "1"]\n    stopSignal: 0\n')).toEqual([
      { path: 'services.web.stopSignal', line: 4, column: 5, message: 'must be a string, or an integer from 1 to 64' },
    ]);
  });

  it('gives YAML syntax errors their position', () => {
    expect(problemsOf('services:\n  a:\n    command: ["true"]\n  a:\n    command: ["false"]')).toEqual([{ path: '', line: 4, column: 3, message: 'Map keys must be unique' }]);
  });
});
