/**
 * The deployment files agree with src/config/env.ts: docker-compose.yml has the whole stack and sets
 * only variables the config accepts, with values it accepts; .env.example documents exactly those
 * variables; the Dockerfile builds what the compose services run. The compose file is validated
 * against the Compose specification's own JSON schema (from compose-go, fetched by `npm run setup`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { envSchema, loadConfig, TEMPORAL_ENV_VARS } from '../../src/config/env.js';
import { composeSpecPath } from '../../src/infra/tools.js';
import { OFFLOAD_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes.js';
import { FAIRNESS_DYNAMIC_CONFIG } from '../../src/infra/temporal.js';
import { missingWorkerFlags, WORKER_NODE_FLAGS } from '../../src/worker/node-flags.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

type EnvValue = string | number | boolean | null;

interface ComposeService {
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

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string }>;
}

// Compose resolves YAML merge keys (`<<: *anchor`), which YAML 1.2 parsers only do when asked.
const compose = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = compose.services;

const CONFIG_KEYS = new Set<string>([...Object.keys(envSchema.shape), ...TEMPORAL_ENV_VARS]);

/** Services built from ./Dockerfile: the ones that run offload itself. */
const OFFLOAD_SERVICES = ['migrate', 'api', 'worker-jobs', 'worker-exports', 'worker-audio'];

/**
 * Compose variable interpolation as if no variable were set in the shell or .env: `${VAR:-default}`
 * and `${VAR-default}` give the default, `${VAR}`, `$VAR` and `${VAR:+alt}` nothing, `$$` a dollar;
 * `${VAR:?message}` (required) throws.
 */
function interpolate(value: string): string {
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
function environmentOf(service: ComposeService): Record<string, string> {
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

const commandOf = (service: ComposeService): string[] =>
  typeof service.command === 'string' ? service.command.split(/\s+/) : (service.command ?? []);

/** `--queues a,b` of a worker's command. */
function queuesOf(service: ComposeService): string[] {
  const args = commandOf(service);
  const at = args.indexOf('--queues');
  return at === -1 ? [] : (args[at + 1] ?? '').split(',');
}

/** Every `KEY=` line of .env.example, commented out or not. */
function envExampleKeys(): string[] {
  return read('.env.example')
    .split('\n')
    .map((line) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((key): key is string => key !== undefined);
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification JSON schema', () => {
    const schema = JSON.parse(fs.readFileSync(composeSpecPath(), 'utf8')) as object;
    // The spec uses custom formats (durations, ports) that compose-go checks in Go; structure is ours to check.
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    // Validate the file as written (merge keys resolved, like compose does), before interpolation.
    const valid = validate(compose);
    expect(validate.errors ?? [], ajv.errorsText(validate.errors)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects what the schema forbids (the validation can fail)', () => {
    const schema = JSON.parse(fs.readFileSync(composeSpecPath(), 'utf8')) as object;
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(schema);
    expect(validate({ services: { api: { image: 'x', restart: 'sometimes', bogus: 1 } } })).toBe(false);
  });

  it("registers offload's search attributes with Temporal", () => {
    const script = JSON.stringify(services['temporal-namespace']?.command ?? '');
    for (const name of Object.keys(OFFLOAD_SEARCH_ATTRIBUTES)) expect(script).toContain(name);
    expect(script).toContain('search-attribute create');
  });

  it('has the whole stack', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'minio', ...OFFLOAD_SERVICES]),
    );
  });

  it('pins every image it pulls', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue;
      expect(service.image, name).toMatch(/^[\w./-]+:(?!latest$)[\w.-]+$/);
    }
    expect(services.postgres!.image).toMatch(/^postgres:\d+$/);
    expect(services.temporal!.image).toMatch(/^temporalio\/(server|auto-setup):\d+\.\d+\.\d+$/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(services.minio!.image).toMatch(/minio/);
  });

  it('keeps PostgreSQL on a volume behind a health check, and Temporal on PostgreSQL', () => {
    const postgres = services.postgres!;
    expect(postgres.healthcheck?.test).toBeDefined();
    const mounts = (postgres.volumes ?? []).map((v) => (typeof v === 'string' ? v : (v.target ?? '')));
    const dataVolume = mounts.find((m) => m.endsWith(':/var/lib/postgresql/data'));
    expect(dataVolume, 'a named volume at /var/lib/postgresql/data').toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(dataVolume!.split(':')[0]);
    const temporalEnv = environmentOf(services.temporal!);
    expect(temporalEnv.DB).toMatch(/^postgres/);
    expect(temporalEnv.POSTGRES_SEEDS).toBe('postgres');
  });

  it('builds exactly the offload services from ./Dockerfile', () => {
    const built = Object.entries(services).filter(([, service]) => service.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual([...OFFLOAD_SERVICES].sort());
    for (const [name, { build }] of built) {
      const context = typeof build === 'string' ? build : build?.context;
      const dockerfile = typeof build === 'string' ? undefined : build?.dockerfile;
      expect(context, name).toBe('.');
      expect(dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
    }
  });

  it('runs the migrations, the API and one worker pool per task queue', () => {
    expect(commandOf(services.migrate!).join(' ')).toContain('db:migrate');
    expect(commandOf(services.api!).join(' ')).toContain('src/server/index.ts');
    expect(queuesOf(services['worker-jobs']!)).toEqual(['jobs']);
    expect(queuesOf(services['worker-exports']!)).toEqual(['exports']);
    expect(queuesOf(services['worker-audio']!)).toEqual(['audio']);
    expect(services['worker-exports']!.deploy?.replicas).toBe(2);
  });

  it('starts every worker, in compose and with npm run worker, with the worker Node flags', () => {
    for (const name of ['worker-jobs', 'worker-exports', 'worker-audio']) {
      expect(missingWorkerFlags(commandOf(services[name]!), ''), name).toEqual([]);
    }
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(missingWorkerFlags(scripts.worker!.split(' '), '')).toEqual([]);
    expect(missingWorkerFlags(['--import', 'tsx'], '')).toEqual([...WORKER_NODE_FLAGS]);
    expect(missingWorkerFlags([], WORKER_NODE_FLAGS.join(' '))).toEqual([]);
  });

  it('starts the API and workers only after the migrations', () => {
    for (const name of OFFLOAD_SERVICES.filter((n) => n !== 'migrate')) {
      const dependsOn = services[name]!.depends_on;
      expect(dependsOn && !Array.isArray(dependsOn) ? dependsOn.migrate?.condition : undefined, name).toBe(
        'service_completed_successfully',
      );
    }
  });

  describe.each(OFFLOAD_SERVICES)('%s', (name) => {
    const env = environmentOf(services[name]!);

    it('sets only variables the config accepts', () => {
      const unknown = Object.keys(env).filter((key) => !CONFIG_KEYS.has(key));
      expect(unknown, `not in envSchema or TEMPORAL_ENV_VARS (src/config/env.ts)`).toEqual([]);
    });

    it('passes loadConfig() with the ${VAR:-default} defaults', () => {
      const config = loadConfig(env);
      expect(config.DATABASE_URL).toMatch(/^postgres:\/\/.+@postgres:5432\//);
      if (name !== 'migrate') expect(config.temporal.connection.address).toBe('temporal:7233');
    });
  });

  it("turns on Temporal's priority and fairness with the dev server's values", () => {
    const dynamic = parse(compose.configs?.['temporal-dynamic-config']?.content ?? '') as Record<
      string,
      { value: unknown }[]
    >;
    for (const [key, value] of Object.entries(FAIRNESS_DYNAMIC_CONFIG)) {
      expect(dynamic[key]?.[0]?.value, key).toBe(value);
    }
  });

  it('makes the API reachable from outside its container', () => {
    const config = loadConfig(environmentOf(services.api!));
    expect(config.HOST).toBe('0.0.0.0');
  });
});

describe('interpolate', () => {
  it('resolves compose variables as unset', () => {
    expect(interpolate('a${X:-b}c')).toBe('abc');
    expect(interpolate('${X-b}')).toBe('b');
    expect(interpolate('${X:-${Y:-z}}')).toBe('z');
    expect(interpolate('${X}|$X|${X:+y}')).toBe('||');
    expect(interpolate('$$HOME')).toBe('$HOME');
    expect(() => interpolate('${X:?set X}')).toThrow(/required/);
  });
});

describe('.env.example', () => {
  const keys = envExampleKeys();

  it('lists every variable of envSchema and TEMPORAL_ENV_VARS', () => {
    const missing = [...CONFIG_KEYS].filter((key) => !keys.includes(key));
    expect(missing).toEqual([]);
  });

  it('lists nothing else, and nothing twice', () => {
    expect(keys.filter((key) => !CONFIG_KEYS.has(key))).toEqual([]);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
  });

  it('gives each variable a one-line comment', () => {
    const lines = read('.env.example').split('\n');
    for (const key of keys) {
      const at = lines.findIndex((line) => new RegExp(`^#?\\s*${key}=`).test(line));
      expect(lines[at - 1], key).toMatch(/^# \S/);
      expect(lines[at - 1], key).not.toMatch(/^#?\s*[A-Z][A-Z0-9_]*=/);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds on node:20-slim with npm ci and prebuilds the workflow bundle', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(dockerfile).toMatch(/\bnpm ci\b/);
    expect(dockerfile).toMatch(/\bnpm run build:bundle\b/);
    expect(runtime).toMatch(/WORKFLOW_BUNDLE_PATH=\/app\/dist\/workflow-bundle\.js/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
  });

  it('runs as a non-root user', () => {
    const user = /^USER\s+(\S+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('sets only variables the config accepts (besides npm settings)', () => {
    const envBlock = [...runtime.matchAll(/^ENV\s+((?:.*\\\n)*.*)$/gm)].map((m) => m[1]!).join(' ');
    const keys = [...envBlock.matchAll(/([A-Z][A-Z0-9_]*)=/g)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => !key.startsWith('NPM_CONFIG_') && !CONFIG_KEYS.has(key))).toEqual([]);
  });

  it('keeps dependencies, local data and git history out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.data', '.git']));
  });
});
