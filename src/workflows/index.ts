/** Entry point of the workflow bundle: every workflow type the `jobs` queue serves. */
export { exportWorkflow } from './export.js';
export { audioWorkflow } from './audio.js';
export { jobWorkflow } from './job.js';
export { partsRetentionWorkflow, retentionWorkflow } from './retention.js';
