/** Activities by task queue: light record-keeping and notifications on `jobs`, heavy work on `exports` and `audio`. */
export { createJobRecordActivities, type JobRecordActivities } from './job-records.js';
export { createExportActivities, type ExportActivities } from './export/export-dataset.js';
export type { ActivityDeps } from './deps.js';
export { createAudioActivities, type AudioActivities, type AudioDeps } from './audio/synthesize-audio.js';
export { createNotifyActivities, type NotifyActivities, type NotifyConfig } from './notify.js';
