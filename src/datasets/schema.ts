/**
 * What checkExportRequest enforces, as JSON Schema for the OpenAPI document: per dataset (`oneOf` on
 * `dataset`), its columns, filters with their values and bounds, and sortable columns. A body valid by
 * this schema is one checkExportRequest accepts (test/unit/schema-equivalence.test.ts).
 */
import { SAFE_TEXT_PATTERN } from '../shared/input.js';
import { DECIMAL_PATTERN, INTEGER_PATTERN, TIMESTAMP_PATTERN } from '../shared/patterns.js';
import { RANGE_BOUND_LIMIT, sortableColumns } from './query.js';
import { datasets, type ColumnType, type DatasetDef, type FilterDef } from './registry.js';

type JsonSchema = Record<string, unknown>;

/** A `from`/`to` bound of a range filter on a column of `type` (isRangeBound). */
function boundSchema(type: ColumnType): JsonSchema {
  if (type === 'timestamp') return { type: 'string', pattern: TIMESTAMP_PATTERN.source };
  if (type === 'text') return { type: 'string', pattern: SAFE_TEXT_PATTERN };
  if (type === 'boolean') return { type: 'boolean' };
  const limits = { exclusiveMinimum: -RANGE_BOUND_LIMIT, exclusiveMaximum: RANGE_BOUND_LIMIT };
  return type === 'integer'
    ? {
        anyOf: [
          { type: 'integer', ...limits },
          { type: 'string', pattern: INTEGER_PATTERN.source },
        ],
      }
    : {
        anyOf: [
          { type: 'number', ...limits },
          { type: 'string', pattern: DECIMAL_PATTERN.source },
        ],
      };
}

function filterSchema(f: FilterDef): JsonSchema {
  if (f.kind === 'eq' || f.kind === 'prefix') {
    if (f.type !== 'text') return { ...boundSchema(f.type), description: 'Rows whose value equals this' };
    return {
      type: 'string',
      ...(f.kind === 'prefix' ? { minLength: 1 } : {}),
      maxLength: 200,
      ...(f.values ? { enum: [...f.values] } : { pattern: SAFE_TEXT_PATTERN }),
      description: f.kind === 'prefix' ? 'Rows whose value starts with this' : 'Rows whose value equals this',
    };
  }
  if (f.kind === 'in') {
    return {
      type: 'array',
      items: { type: 'string', ...(f.values ? { enum: [...f.values] } : { pattern: SAFE_TEXT_PATTERN }) },
      minItems: 1,
      maxItems: 100,
      description: f.values ? `Any of: ${f.values.join(', ')}` : 'Any of these values',
    };
  }
  const bound = boundSchema(f.type);
  return {
    type: 'object',
    properties: { from: bound, to: bound },
    additionalProperties: false,
    minProperties: 1,
    description: '`from` inclusive, `to` exclusive; a range with `from` not before `to` matches no rows',
  };
}

/** The part of the export body that depends on the dataset. */
function datasetSchema(ds: DatasetDef): JsonSchema {
  return {
    title: ds.title,
    properties: {
      dataset: { const: ds.name },
      columns: { items: { enum: ds.columns.map((c) => c.name) }, uniqueItems: true },
      filters: {
        type: 'object',
        properties: Object.fromEntries(ds.filters.map((f) => [f.name, filterSchema(f)])),
        additionalProperties: false,
      },
      sort: { properties: { column: { enum: sortableColumns(ds) } } },
    },
  };
}

/** JSON Schema keywords that, beside the body's own properties, say what checkExportRequest checks. */
export function exportRequestSchema(): JsonSchema {
  return {
    oneOf: Object.values(datasets()).map(datasetSchema),
    allOf: [
      { anyOf: [{ properties: { format: { const: 'csv' } } }, { not: { required: ['bom'] } }] },
      { anyOf: [{ properties: { format: { const: 'pdf' } } }, { not: { required: ['title'] } }] },
      {
        anyOf: [
          { properties: { format: { enum: ['csv', 'ndjson'] } } },
          { not: { required: ['compression'], properties: { compression: { const: 'gzip' } } } },
        ],
      },
    ],
  };
}
