/**
 * docker-compose.yml as Compose reads it: YAML merge keys resolved, variables interpolated as if none
 * were set in the shell or an .env file. Shared by the deploy-file checks and by the e2e test that runs
 * the services' commands from the deployable artifact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export type EnvValue = string | number | boolean | null;

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, EnvValue> | string[];
  healthcheck?: { test?: string | string[] };
  volumes?: (string | { target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  profiles?: string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string }>;
}

// Compose resolves YAML merge keys (`<<: *anchor`), which YAML 1.2 parsers only do when asked.
export const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as ComposeFile;
export const services = compose.services;

/** Services built from ./Dockerfile: the ones that run offload itself. */
export const OFFLOAD_SERVICES = ['migrate', 'api', 'worker-jobs', 'worker-exports', 'worker-audio'];

/**
 * Compose variable interpolation as if no variable were set in the shell or .env: `${VAR:-default}`
 * and `${VAR-default}` give the default, `${VAR}`, `$VAR` and `${VAR:+alt}` nothing, `$$` a dollar;
 * `${VAR:?message}` (required) throws.
 */
export function interpolate(value: string): string {
  const pattern = /\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)/g;
  return value.replace(pattern, (match, name?: string, op?: string, arg?: string) => {
    if (match === '$$') return '$';
    if (!name || !op) return '';
    if (op.endsWith('-')) return interpolate(arg ?? '');
    if (op.endsWith('?')) throw new Error(`\${${name}} is required (${arg ?? 'no message'})`);
    return ''; // ${VAR:+alt}: VAR is unset
  });
}

/** A service's environment after interpolation. Keys without a value come from the host: left out. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  const entries: [string, EnvValue][] = Array.isArray(env)
    ? env.map((item) => {
        const eq = item.indexOf('=');
        return eq === -1 ? [item, null] : [item.slice(0, eq), item.slice(eq + 1)];
      })
    : Object.entries(env);
  return Object.fromEntries(
    entries
      .filter((entry): entry is [string, string | number | boolean] => entry[1] !== null)
      .map(([key, value]) => [key, interpolate(String(value))]),
  );
}

export const commandOf = (service: ComposeService): string[] =>
  typeof service.command === 'string' ? service.command.split(/\s+/) : (service.command ?? []);

/** `--queues a,b` of a worker's command. */
export function queuesOf(service: ComposeService): string[] {
  const args = commandOf(service);
  const at = args.indexOf('--queues');
  return at === -1 ? [] : (args[at + 1] ?? '').split(',');
}
