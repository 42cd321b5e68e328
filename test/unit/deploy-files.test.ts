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
import {
  commandOf,
  compose,
  environmentOf,
  interpolate,
  OFFLOAD_SERVICES,
  queuesOf,
  ROOT,
  services,
} from '../helpers/compose.js';
import { envSchema, loadConfig, TEMPORAL_ENV_VARS } from '../../src/config/env.js';
import { composeSpecPath } from '../../tools/binaries.js';
import { OFFLOAD_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes.js';
import { FAIRNESS_DYNAMIC_CONFIG } from '../../tools/temporal.js';
import { missingWorkerFlags, WORKER_NODE_FLAGS } from '../../src/worker/node-flags.js';
import { TRACING_ENV_VARS } from '../../src/lib/tracing.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Every `KEY=` line of .env.example, commented out or not. */
function envExampleKeys(): string[] {
  return read('.env.example')
    .split('\n')
    .map((line) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((key): key is string => key !== undefined);
}
const CONFIG_KEYS = new Set<string>([
  ...Object.keys(envSchema.shape),
  ...TEMPORAL_ENV_VARS,
  ...TRACING_ENV_VARS,
]);

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
    expect(commandOf(services.migrate!)).toContain('dist/cli/migrate.js');
    expect(commandOf(services.api!)).toContain('dist/server/index.js');
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

  it('builds on node:20-slim with npm ci and npm run build', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(dockerfile).toMatch(/\bnpm ci\b/);
    expect(dockerfile).toMatch(/\bnpm run build\b/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
  });

  it('runs nothing through tsx: every command of the image and of compose is compiled JavaScript', () => {
    const commands = [
      ...OFFLOAD_SERVICES.map((name) => commandOf(services[name]!).join(' ')),
      ...[...runtime.matchAll(/^(?:CMD|HEALTHCHECK.*\\\n\s*CMD)\s+(.*)$/gm)].map((m) => m[1]!),
    ];
    expect(commands.length).toBe(OFFLOAD_SERVICES.length + 2);
    for (const command of commands) {
      expect(command).not.toMatch(/\btsx\b|\.ts\b|\bnpm\b/);
      expect(command).toMatch(/dist\/.*\.js/);
    }
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
