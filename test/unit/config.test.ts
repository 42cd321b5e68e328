/** loadConfig(env): defaults, one precise problem per wrong variable, and Temporal settings via envconfig. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';

/** The ConfigError thrown for `env`; fails the test when loadConfig accepts it. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const error = err as ConfigError;
    // The message lists every problem, so a log line alone is enough to fix the deployment.
    for (const p of error.problems) expect(error.message).toContain(p);
    return error.problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The single problem naming `variable`, asserting there is exactly one. */
function problemFor(problems: string[], variable: string): string {
  const matching = problems.filter((p) => p.startsWith(`${variable}:`) || p.startsWith(`${variable}.`));
  expect(matching, `problems naming ${variable} in ${JSON.stringify(problems)}`).toHaveLength(1);
  return matching[0]!;
}

describe('loadConfig defaults', () => {
  it('accepts an empty environment with documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      PORT: 3000,
      HOST: '127.0.0.1',
      DATABASE_POOL_MAX: 10,
      STORAGE_DIR: '.data/storage',
      WORKER_QUEUES: ['jobs', 'exports', 'audio'],
      JOBS_CONCURRENCY: 50,
      EXPORTS_CONCURRENCY: 2,
      EXPORT_HEARTBEAT_TIMEOUT_MS: 10_000,
      EXPORT_START_TO_CLOSE_TIMEOUT_MS: 2 * 60 * 60 * 1000,
      EXPORT_MAX_ATTEMPTS: 5,
      EXPORT_RETRY_INITIAL_MS: 1000,
      EXPORT_RETRY_MAX_MS: 30_000,
      EXPORT_PART_ROWS: 50_000,
      EXPORT_MAX_ROWS_PER_SEC: 0,
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PUBLIC_URL).toBeUndefined();
    expect(config.storageDir).toBe(path.resolve('.data/storage'));
    expect(path.isAbsolute(config.storageDir)).toBe(true);
    // Without TEMPORAL_* variables: a plain local connection to the default namespace.
    expect(config.temporal.namespace).toBe('default');
    // The SDK's Connection falls back to localhost:7233 when no address is set.
    expect(config.temporal.connection.address ?? 'localhost:7233').toBe('localhost:7233');
    expect(config.temporal.connection.apiKey).toBeUndefined();
    expect(config.temporal.connection.tls ?? false).toBe(false);
  });

  it('parses numbers, trims and splits WORKER_QUEUES, and resolves STORAGE_DIR', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgresql://u:p@db:5432/offload',
      WORKER_QUEUES: ' exports , jobs ,',
      EXPORT_RETRY_INITIAL_MS: '2000',
      EXPORT_RETRY_MAX_MS: '2000',
      STORAGE_DIR: '/var/lib/offload',
    });
    expect(config.PORT).toBe(8080);
    expect(config.DATABASE_URL).toBe('postgresql://u:p@db:5432/offload');
    expect(config.WORKER_QUEUES).toEqual(['exports', 'jobs']);
    expect(config.EXPORT_RETRY_MAX_MS).toBe(2000);
    expect(config.storageDir).toBe('/var/lib/offload');
  });
});

describe('loadConfig problems', () => {
  it.each([
    ['abc', /number/i],
    ['70000', /port number/i],
    ['-1', />=\s*0/],
    ['3.5', /int/i],
  ])('PORT=%j is rejected naming PORT and the reason', (value, reason) => {
    const problem = problemFor(problemsOf({ PORT: value }), 'PORT');
    expect(problem).toMatch(reason);
    // The reason, never the value (any variable may hold a secret).
    expect(problem).not.toContain(value);
  });

  it('rejects a DATABASE_URL that is not postgres://', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://root@localhost/offload' });
    expect(problems).toHaveLength(1);
    const problem = problemFor(problems, 'DATABASE_URL');
    expect(problem).toContain('must be a postgres:// connection URL');
    expect(problem).not.toContain('mysql');
  });

  it('rejects a WORKER_QUEUES entry that cannot be a queue name', () => {
    const problem = problemFor(problemsOf({ WORKER_QUEUES: 'jobs,two words' }), 'WORKER_QUEUES');
    expect(problem).toContain('must be queue names');
  });

  it('rejects a TASK_QUEUE_PREFIX with characters a queue name does not take', () => {
    expect(problemFor(problemsOf({ TASK_QUEUE_PREFIX: 'a/b' }), 'TASK_QUEUE_PREFIX')).toContain(
      'letters, digits',
    );
  });

  it('rejects a WORKER_QUEUES that names no queue', () => {
    const problem = problemFor(problemsOf({ WORKER_QUEUES: ' , ' }), 'WORKER_QUEUES');
    expect(problem).toContain('must name at least one queue');
  });

  it('rejects EXPORT_RETRY_MAX_MS below EXPORT_RETRY_INITIAL_MS', () => {
    const problems = problemsOf({ EXPORT_RETRY_INITIAL_MS: '5000', EXPORT_RETRY_MAX_MS: '1000' });
    expect(problems).toHaveLength(1);
    expect(problemFor(problems, 'EXPORT_RETRY_MAX_MS')).toContain('at least EXPORT_RETRY_INITIAL_MS');
  });

  it('rejects an EXPORT_RETRY_MAX_MS below the default EXPORT_RETRY_INITIAL_MS', () => {
    const problems = problemsOf({ EXPORT_RETRY_MAX_MS: '999' });
    expect(problemFor(problems, 'EXPORT_RETRY_MAX_MS')).toContain('at least EXPORT_RETRY_INITIAL_MS');
  });

  it('rejects an API_BODY_LIMIT_BYTES that cannot hold the longest audio text', () => {
    const problem = problemFor(problemsOf({ API_BODY_LIMIT_BYTES: '100000' }), 'API_BODY_LIMIT_BYTES');
    // The default AUDIO_MAX_TEXT_CHARS (200,000) at 3 bytes each, plus 4 KiB.
    expect(problem).toContain('at least 604096');
    expect(() => loadConfig({ API_BODY_LIMIT_BYTES: '100000', AUDIO_MAX_TEXT_CHARS: '30000' })).not.toThrow();
    problemFor(problemsOf({ AUDIO_MAX_TEXT_CHARS: '1000000' }), 'API_BODY_LIMIT_BYTES');
  });

  it('lists every wrong variable at once, including the retry bounds', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      DATABASE_URL: 'http://db',
      WORKER_QUEUES: 'bogus queue',
      LOG_LEVEL: 'loud',
      EXPORT_MAX_ATTEMPTS: '0',
      EXPORT_RETRY_INITIAL_MS: '5000',
      EXPORT_RETRY_MAX_MS: '1000',
    });
    expect(problems).toHaveLength(6);
    problemFor(problems, 'PORT');
    expect(problemFor(problems, 'DATABASE_URL')).toContain('must be a postgres:// connection URL');
    expect(problemFor(problems, 'WORKER_QUEUES')).toContain('must be queue names');
    expect(problemFor(problems, 'LOG_LEVEL')).toMatch(/expected one of/);
    expect(problemFor(problems, 'EXPORT_MAX_ATTEMPTS')).toMatch(/>=\s*1/);
    expect(problemFor(problems, 'EXPORT_RETRY_MAX_MS')).toContain('at least EXPORT_RETRY_INITIAL_MS');
    // Variables that were fine are not mentioned.
    expect(problems.join('\n')).not.toMatch(/HOST|STORAGE_DIR|TEMPORAL/);
  });
});

describe('loadConfig Temporal settings (via @temporalio/envconfig)', () => {
  it('passes TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE to config.temporal', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'offload' });
    expect(config.temporal.namespace).toBe('offload');
    expect(config.temporal.connection.address).toBe('temporal.internal:7233');
    expect(config.temporal.connection.apiKey).toBeUndefined();
    expect(config.temporal.connection.tls ?? false).toBe(false);
  });

  it('TEMPORAL_API_KEY reaches the connection and turns TLS on', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'offload.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'offload.a1b2c',
      TEMPORAL_API_KEY: 'secret-api-key',
    });
    expect(config.temporal).toEqual({
      namespace: 'offload.a1b2c',
      connection: expect.objectContaining({
        address: 'offload.a1b2c.tmprl.cloud:7233',
        apiKey: 'secret-api-key',
        tls: true,
      }) as unknown,
    });
  });

  it('an explicit TEMPORAL_TLS=false wins over the API key default', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'proxy:7233',
      TEMPORAL_API_KEY: 'k',
      TEMPORAL_TLS: 'false',
    });
    expect(config.temporal.connection.apiKey).toBe('k');
    expect(config.temporal.connection.tls).toBe(false);
  });
});

describe('configuration errors and secrets', () => {
  /** Every value below is a "secret": none of it may appear in a problem or the error's message. */
  const SECRET = 'hunter2-Zq8x';

  it.each([
    // A password in a URL of the wrong scheme, in the key=value form, or in a query string.
    ['DATABASE_URL', `mysql://offload:${SECRET}@db:3306/offload`],
    ['DATABASE_URL', `host=db user=offload password=${SECRET}`],
    ['DATABASE_URL', `postgres//offload:${SECRET}@db/offload?sslpassword=${SECRET}`],
    ['SMTP_URL', `ftp://mailer:${SECRET}@mail/x`],
    ['SMTP_URL', `mailer:${SECRET}@mail`],
    ['PUBLIC_URL', `not a url ${SECRET}`],
    ['S3_ENDPOINT', `${SECRET}`],
    // Too short, so it is refused: the token itself must not be printed.
    ['METRICS_TOKEN', SECRET],
    // A secret pasted into a variable that holds none: refused as what it is not, and still not shown.
    ['PORT', SECRET],
    ['LOG_LEVEL', SECRET],
    ['STORAGE_DRIVER', SECRET],
    ['S3_FORCE_PATH_STYLE', SECRET],
    ['WEBHOOK_ALLOW_PRIVATE', SECRET],
    ['WORKER_QUEUES', `jobs,${SECRET} x`],
    ['TASK_QUEUE_PREFIX', `${SECRET}/x`],
    ['API_STATEMENT_TIMEOUT_MS', SECRET],
  ])('a wrong %s is named with its reason, never its value', (variable, value) => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error, `${variable} was accepted`).toBeInstanceOf(ConfigError);
    const problem = problemFor(error!.problems, variable);
    expect(problem.length).toBeGreaterThan(variable.length + 4);
    expect(error!.message).not.toContain(SECRET);
    expect(error!.message).not.toContain('hunter');
    expect(JSON.stringify(error!.problems)).not.toContain(SECRET);
  });

  it('says that a variable is empty, without any value', () => {
    const problems = problemsOf({ S3_SECRET_ACCESS_KEY: '', S3_BUCKET: '' });
    expect(problemFor(problems, 'S3_SECRET_ACCESS_KEY')).toContain('(it is empty)');
    expect(problemFor(problems, 'S3_BUCKET')).toContain('(it is empty)');
  });

  it('lists several wrong secrets at once, none of them shown', () => {
    const problems = problemsOf({
      DATABASE_URL: `mysql://offload:${SECRET}@db:3306/offload?sslpassword=${SECRET}`,
      SMTP_URL: `ftp://mailer:${SECRET}@mail/x`,
      METRICS_TOKEN: 'short',
      PORT: 'eighty',
    });
    expect(problems).toHaveLength(4);
    const text = problems.join('\n');
    expect(text).not.toMatch(/hunter|eighty|short\b|mysql|ftp:/);
    expect(problemFor(problems, 'METRICS_TOKEN')).toContain('at least 16 characters');
  });

  it('quotes nothing of a broken Temporal config file, which may hold an API key', async () => {
    const fs = await import('node:fs/promises');
    const os = await import('node:os');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-config-'));
    const file = path.join(dir, 'temporal.toml');
    try {
      await fs.writeFile(file, `[profile.default]\napi_key = "${SECRET}\naddress = "x:7233"\n`);
      const problems = problemsOf({ TEMPORAL_CONFIG_FILE: file });
      const problem = problemFor(problems, 'TEMPORAL_*');
      expect(problem).toMatch(/TOML/i);
      expect(problems.join('\n')).not.toContain(SECRET);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
