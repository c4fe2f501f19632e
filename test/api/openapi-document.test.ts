// The OpenAPI document checked by a validator nobody here wrote (@readme/openapi-parser: the
// OpenAPI 3.1 JSON Schema, then rules the schema cannot state: unique operationIds, path
// parameters declared and required, component names, $refs that resolve).
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { createApi, json, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

describe.skipIf(unsupported !== null)('GET /openapi.json', () => {
  it('passes an OpenAPI 3.1 validator, without errors or warnings', async () => {
    const document = json(await t.app.inject('/openapi.json'));
    // validate() dereferences its argument in place: give it a copy.
    const result = await validate(structuredClone(document));
    expect(result.valid ? '' : compileErrors(result)).toBe('');
    expect(result.warnings).toEqual([]);
    expect(result).toMatchObject({ valid: true, specification: 'OpenAPI' });
  });
});
