/**
 * Custom search attributes offload sets on every job workflow, so operators can find jobs in the
 * Temporal Web UI and CLI: `temporal workflow list --query "OffloadOwner='<user id>'"`.
 * Registered on the dev server (tools/temporal.ts) and in docker-compose.yml (temporal-setup).
 * The keys are plain objects of the SDK's SearchAttributeKey shape, so this module imports nothing.
 */

/** Name → type, as `temporal operator search-attribute create` and the dev server's flag take them. */
export const OFFLOAD_SEARCH_ATTRIBUTES = {
  OffloadKind: 'Keyword',
  OffloadOwner: 'Keyword',
  OffloadTenant: 'Keyword',
  OffloadState: 'Keyword',
} as const;

interface KeywordKey {
  name: keyof typeof OFFLOAD_SEARCH_ATTRIBUTES;
  type: 'KEYWORD';
}

export const OffloadKind: KeywordKey = { name: 'OffloadKind', type: 'KEYWORD' };
export const OffloadOwner: KeywordKey = { name: 'OffloadOwner', type: 'KEYWORD' };
export const OffloadTenant: KeywordKey = { name: 'OffloadTenant', type: 'KEYWORD' };
export const OffloadState: KeywordKey = { name: 'OffloadState', type: 'KEYWORD' };

/** The attributes a job's workflow starts with; the workflow keeps OffloadState current. */
export function jobSearchAttributes(job: {
  kind: string;
  userId: string;
  tenantId: string;
}): { key: KeywordKey; value: string }[] {
  return [
    { key: OffloadKind, value: job.kind },
    { key: OffloadOwner, value: job.userId },
    { key: OffloadTenant, value: job.tenantId },
    { key: OffloadState, value: 'queued' },
  ];
}
