/**
 * Files that code loads at run time by path (a worker thread, the workflow sources, the prebuilt
 * workflow bundle) sit beside the module that loads them: `.ts` sources under tsx in development and
 * tests, compiled `.js` in dist/ in production (`npm run build`).
 */
import { fileURLToPath } from 'node:url';

/** True when `moduleUrl` (an `import.meta.url`) is a TypeScript source rather than compiled output. */
export function runsFromSource(moduleUrl: string): boolean {
  return fileURLToPath(moduleUrl).endsWith('.ts');
}

/**
 * The module at `relative` (written without an extension, e.g. `./pdf-thread`) from `moduleUrl`, with
 * the extension of the code that is running: `.ts` from sources, `.js` from dist/.
 */
export function siblingModule(moduleUrl: string, relative: string): URL {
  return new URL(`${relative}${runsFromSource(moduleUrl) ? '.ts' : '.js'}`, moduleUrl);
}
