// schemathesis, the OpenAPI property-based tester that test/e2e/schemathesis.test.ts runs against the
// API: a Python package with some twenty dependencies, so not one executable in a wheel (tools/wheels.ts)
// but a hash-pinned virtual environment in the setup cache (tools/pip-venv.ts) from
// tools/schemathesis-requirements.txt, provisioned once `st --version` names the pinned version.
import { fileURLToPath } from 'node:url';
import { pinnedVenv } from './pip-venv.js';

export const SCHEMATHESIS_VERSION = '4.32.5';

/** The lock file: schemathesis and its dependencies, pinned by version and sha256. */
export const SCHEMATHESIS_REQUIREMENTS = fileURLToPath(
  new URL('./schemathesis-requirements.txt', import.meta.url),
);

const schemathesis = pinnedVenv({
  name: 'schemathesis',
  version: SCHEMATHESIS_VERSION,
  requirements: SCHEMATHESIS_REQUIREMENTS,
  envVar: 'SCHEMATHESIS_PATH',
  executable: 'st',
  override: `a schemathesis ${SCHEMATHESIS_VERSION} \`st\``,
  python: '3.11+',
  versionCheck: {
    args: ['--version'],
    shown: '--version',
    pinned: (out) => out.includes(SCHEMATHESIS_VERSION),
  },
});

/** `<cache>/schemathesis-4.32.5`, the virtual environment. */
export const schemathesisVenv = schemathesis.venv;
/** SCHEMATHESIS_PATH (if executable), else the provisioned venv's `st`; never installs. */
export const findSchemathesis = schemathesis.find;
export const requireSchemathesis = schemathesis.require;
/** The pinned schemathesis, installed into the cache when missing. */
export const ensureSchemathesis = schemathesis.ensure;
