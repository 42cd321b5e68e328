/** ApplicationFailure types shared by activities and workflows. Permanent ones are never retried. */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  UnknownDataset: 'UnknownDataset',
  JobNotFound: 'JobNotFound',
  WorkerShutdown: 'WorkerShutdown',
  /** The user already runs as many heavy activities as allowed; retried until a slot frees up. */
  HeavySlotBusy: 'HeavySlotBusy',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  ErrorType.InvalidInput,
  ErrorType.UnknownDataset,
  ErrorType.JobNotFound,
];
