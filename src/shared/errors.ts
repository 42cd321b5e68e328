/** ApplicationFailure types shared by activities and workflows. Permanent ones are never retried. */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  UnknownDataset: 'UnknownDataset',
  JobNotFound: 'JobNotFound',
  /** The speech engine refused the input (e.g. a voice this worker does not have). */
  EngineRejected: 'EngineRejected',
  /** A webhook destination in a private or special address range, not allowed by configuration. */
  DestinationRefused: 'DestinationRefused',
  /** A feature the job asked for is not configured (e.g. e-mail without SMTP_URL). */
  NotConfigured: 'NotConfigured',
  /** The user already runs as many heavy activities as allowed; retried until a slot frees up. */
  HeavySlotBusy: 'HeavySlotBusy',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  ErrorType.InvalidInput,
  ErrorType.UnknownDataset,
  ErrorType.JobNotFound,
  ErrorType.EngineRejected,
  ErrorType.DestinationRefused,
  ErrorType.NotConfigured,
];
