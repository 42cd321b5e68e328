/** A time-skipping Temporal test environment on the provisioned Java test server, with quiet SDK logs. */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { requireTestServer } from '../../src/infra/tools.js';

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

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireTestServer() } },
  });
}
