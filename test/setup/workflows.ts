/** vitest globalSetup of the `workflows` project: PostgreSQL and the workflow bundle, no dev server. */
export { workflowsSetup as default } from './global.js';
