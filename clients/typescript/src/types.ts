/** Names for the generated schema types (src/generated/api.ts) that the client's helpers take and return. */
import type { components, operations, paths } from './generated/api.js';

export type { components, operations, paths };
type Schemas = components['schemas'];

export type Job = Schemas['Job'];
export type JobDetail = Schemas['JobDetail'];
export type JobList = Schemas['JobList'];
export type JobState = Job['state'];
export type JobKind = Job['kind'];
export type Progress = Schemas['Progress'];
export type JobStateEvent = Schemas['JobStateEvent'];
export type JobProgressEvent = Schemas['JobProgressEvent'];
export type ExportRequest = Schemas['ExportRequest'];
export type AudioRequest = Schemas['AudioRequest'];
export type Dataset = Schemas['Dataset'];
export type Voice = Schemas['Voice'];
export type ListJobsQuery = NonNullable<operations['jobs.list']['parameters']['query']>;

/** A job, or its id. */
export type JobRef = string | { id: string };

/** The states a job does not leave. */
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'expired'];
