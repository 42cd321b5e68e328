/**
 * API keys: `npm run keys -- create --user <name> --tenant <tenant> [--scope user|admin]`,
 * `npm run keys -- list [--user <name>]`, `npm run keys -- revoke <key id or prefix>`.
 */
import { parseArgs } from 'node:util';
import { createDatabase } from '../db/client.js';
import { migrateDatabase } from '../db/migrate.js';
import { createApiKey, ensureUser, listApiKeys, revokeApiKey } from '../db/users-repo.js';
import { resolveDatabaseUrl } from './database-url.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const USAGE = `usage:
  npm run keys -- create --user <name> --tenant <tenant> [--scope user|admin]
  npm run keys -- list [--user <name>]
  npm run keys -- revoke <key id or prefix>`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      tenant: { type: 'string' },
      scope: { type: 'string', default: 'user' },
    },
  });
  const [command, arg] = positionals;
  if (!command || !['create', 'list', 'revoke'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  const url = resolveDatabaseUrl();
  await migrateDatabase(url);
  const database = createDatabase(url, { max: 1, appName: 'offload-keys' });
  try {
    if (command === 'create') {
      const { user, tenant, scope } = values;
      if (!user || !NAME.test(user)) throw new Error('--user: required, letters, digits, ".", "_" or "-"');
      if (!tenant || !NAME.test(tenant))
        throw new Error('--tenant: required, letters, digits, ".", "_" or "-"');
      if (scope !== 'user' && scope !== 'admin') throw new Error('--scope: must be user or admin');
      const u = await ensureUser(database.db, user, tenant);
      const key = await createApiKey(database.db, u.id, scope);
      console.error(
        `created ${scope} key ${key.id} (prefix ${key.prefix}) for ${user} in tenant ${tenant}; it is shown once:`,
      );
      console.log(key.key);
    } else if (command === 'list') {
      const owner = values.user
        ? await database.db.query.users.findFirst({ where: (u, { eq }) => eq(u.name, values.user!) })
        : undefined;
      if (values.user && !owner) throw new Error(`no user ${values.user}`);
      for (const k of await listApiKeys(database.db, owner?.id)) {
        const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
        console.log(
          `${k.id}\t${k.prefix}\t${k.scope}\t${k.user}\t${k.tenantId}\t${k.createdAt.toISOString()}\t${state}`,
        );
      }
    } else {
      if (!arg) throw new Error('revoke: give the key id or prefix');
      if (!(await revokeApiKey(database.db, arg))) throw new Error(`no active key ${arg}`);
      console.error(`revoked ${arg}`);
    }
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`keys: ${(err as Error).message}`);
    process.exit(1);
  },
);
