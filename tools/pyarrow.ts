// pyarrow, the independent Parquet reader of the format tests (test/helpers/read-back.py) and the bare
// Parquet writer of bench/export-engine.ts: a hash-pinned virtual environment in the setup cache
// (tools/pip-venv.ts) from tools/pyarrow-requirements.txt, provisioned once `import pyarrow` reports the
// pinned version. Used through the venv's `python`.
import { fileURLToPath } from 'node:url';
import { pinnedVenv } from './pip-venv.js';

export const PYARROW_VERSION = '26.0.1';

/** The lock file: pyarrow and numpy, pinned by version and sha256. */
export const PYARROW_REQUIREMENTS = fileURLToPath(new URL('./pyarrow-requirements.txt', import.meta.url));

const pyarrow = pinnedVenv({
  name: 'pyarrow',
  version: PYARROW_VERSION,
  requirements: PYARROW_REQUIREMENTS,
  // A Python interpreter that imports pyarrow, instead of the provisioned venv's.
  envVar: 'PYARROW_PYTHON',
  executable: 'python',
  override: `a Python that imports pyarrow ${PYARROW_VERSION}`,
  python: '3.11',
  versionCheck: {
    args: ['-c', 'import pyarrow; print("pyarrow", pyarrow.__version__)'],
    shown: '-c "import pyarrow"',
    pinned: (out) => out === `pyarrow ${PYARROW_VERSION}`,
  },
});

/** `<cache>/pyarrow-26.0.1`, the virtual environment. */
export const pyarrowVenv = pyarrow.venv;
/** PYARROW_PYTHON (if executable), else the provisioned venv's `python`; never installs. */
export const findPyarrowPython = pyarrow.find;
export const requirePyarrowPython = pyarrow.require;
/** The pinned pyarrow, installed into the cache when missing. */
export const ensurePyarrow = pyarrow.ensure;
