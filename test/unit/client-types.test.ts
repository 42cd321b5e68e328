/**
 * The typed client cannot drift from the API: its checked-in generated types must equal what openapi-typescript
 * makes of the document the app serves now (`npm run client:types` rewrites them after a route change).
 */
import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLIENT_TYPES_PATH, generateClientTypes, servedOpenApiDocument } from '../../scripts/client-types.js';

describe('clients/typescript generated types', () => {
  it('equal the types generated from the /openapi.json the app serves', async () => {
    const checkedIn = await fs.readFile(CLIENT_TYPES_PATH, 'utf8');
    const fresh = await generateClientTypes();
    // On a mismatch: run `npm run client:types` and commit clients/typescript/src/generated/api.ts.
    expect(
      checkedIn === fresh,
      'clients/typescript/src/generated/api.ts is stale: run npm run client:types',
    ).toBe(true);
  });

  it('are generated from the served document, so a route the app adds shows up in them', async () => {
    const doc = (await servedOpenApiDocument()) as { paths: Record<string, unknown> };
    const types = await generateClientTypes();
    const paths = Object.keys(doc.paths);
    expect(paths).toContain('/v1/exports');
    for (const p of paths) expect(types).toContain(`'${p}': {`);
  });
});
