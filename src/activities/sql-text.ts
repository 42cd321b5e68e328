/** Moved to src/db/sql-text.ts (the API builds dataset queries too); kept as a re-export. */
export { keyLiteral, quoteIdent, quoteLiteral } from '../db/sql-text.js';
