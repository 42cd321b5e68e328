/**
 * The job kinds offload runs. The API, the worker and the dashboard read this one list; a new kind is
 * one module (see ./kind.ts and README "Adding a job kind") and one entry here.
 */
import { audioKind } from './audio.js';
import { exportKind } from './export.js';
import { JobKindRegistry } from './registry.js';

export const jobKinds = new JobKindRegistry([exportKind, audioKind]);

export { defineJobKind, heavyPolicy } from './kind.js';
export type { JobKindDefinition, KindWorker, KindWorkerContext } from './kind.js';
export { JobKindRegistry } from './registry.js';
