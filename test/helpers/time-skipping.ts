/** A time-skipping Temporal test environment on the provisioned Java test server, with quiet SDK logs. */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { requireTestServer } from '../../src/infra/tools.js';
import { OFFLOAD_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes.js';

/** Expected activity and workflow failures are logged as warnings by the SDK; keep the output to errors. */
function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // A Runtime already exists in this process (e.g. another file ran first in it): keep its logger.
  }
}

/** The test server, like a deployed one, refuses workflows that upsert unregistered search attributes. */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.keys(OFFLOAD_SEARCH_ATTRIBUTES).map((name) => [name, keyword]),
    ),
  });
}

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireTestServer() } },
  });
  await registerSearchAttributes(env);
  return env;
}
