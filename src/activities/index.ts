/** Activities by task queue: light record-keeping on `jobs`, heavy exports on `exports`. */
export { createJobRecordActivities, type JobRecordActivities } from './job-records.js';
export { createExportActivities, type ExportActivities } from './export-dataset.js';
export type { ActivityDeps } from './deps.js';
export { createAudioActivities, type AudioActivities, type AudioDeps } from './audio/synthesize-audio.js';
export { createNotifyActivities, type NotifyActivities, type NotifyConfig } from './notify.js';
