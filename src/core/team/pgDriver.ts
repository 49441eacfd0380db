/**
 * node-postgres, as its own bundle (`dist/pgDriver.js`, see esbuild.mjs): the extension and the CLI require it only
 * when a team ledger is configured (PostgresTeamLedger's loadPgDriver), so a start without one never loads it.
 */
import pg from 'pg';

export const Pool = pg.Pool;
