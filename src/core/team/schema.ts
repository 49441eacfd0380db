import { AgentBudgetError } from '../errors';
import { MIGRATION_2 } from './schemaV2';
/**
 * The team database: schema `agent_budget`, created and upgraded by forward-only numbered migrations (v1 below,
 * v2 in schemaV2.ts: what is described here is the schema as of v2).
 *
 * - `ledger`: one row per billed call, keyed by the id of the record in the member's local store, so shipping a
 *   record twice (an outbox replayed after a network cut) is a no-op.
 * - `counter`: per scope and period (`team.daily@2026-11-22`, `team.member.<member>.monthly@2026-11`), the settled
 *   spend (moved only together with the ledger rows that make it up) and the total of the holds on it.
 * - `reservation`: the open reservations, one row per call with its six counter keys and a lease in server time; a
 *   reservation whose lease ran out (its machine crashed or lost the network) is freed by the next admission.
 *
 * Concurrency (why there is no overshoot with any number of machines): every function that reads a counter to
 * decide, or adds or removes a hold, first locks the counter rows of the scopes it touches, in key order
 * (`lock_counters`). So admissions on a scope are serialized, each sees every hold and every settled cost committed
 * before it, and the fixed order means two transactions never wait on each other in a cycle. Row locks in order were
 * chosen over SERIALIZABLE: every admission of a team touches the same hot `team.*` rows, where serializable would
 * abort and retry under load (raising the tail latency) while ordered locks just queue for the ~0.1 ms a decision
 * takes. Lease times are read with clock_timestamp() after the locks are held, so a transaction that waited sees the
 * time it decides at, not the time it started.
 *
 * Durability: every answer the ledger gives (an admission, a ship, a release, a renewal, a confirm) is on disk before
 * the caller hears it, so a server crash loses no hold anyone was told of and no cost anyone was told was counted. The
 * settle is the exception: it is visible at once but answered before the disk (its row is still pending in the local
 * outbox, whose drain right behind it confirms it durably or ships it again: see PostgresTeamLedger's SETTLE).
 * The hot `team.*` locks are still never held across a WAL flush (a transaction releases its row locks only when it
 * commits, so a flush inside would queue the whole team behind the disk): the v2 procedures (`admit_durably`,
 * `ship_durably`, `release_durably`) commit the decision asynchronously — the locks go at once — and then wait for
 * the flush in a second transaction outside them before answering; schemaV2.ts says why losing that first commit in
 * a crash is harmless. Rows are still marked shipped in the outbox only after a ship has answered.
 */

export const TEAM_SCHEMA = 'agent_budget';

export interface Migration {
  version: number;
  name: string;
  /** Statements run as one simple query inside the migration's transaction. */
  sql: string;
}

/** Forward-only: a released migration is never edited; a change is a new migration appended here. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger, counters, holds with leases, and the admission functions',
    sql: /* sql */ `
CREATE TABLE agent_budget.ledger (
  id text COLLATE "C" PRIMARY KEY,
  reservation_id text,
  member text NOT NULL,
  machine text NOT NULL,
  ts timestamptz NOT NULL,
  day text NOT NULL,
  week text NOT NULL,
  month text NOT NULL,
  workflow text NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  client text NOT NULL,
  run_id text,
  task text,
  cost_micros bigint NOT NULL CHECK (cost_micros >= 0),
  estimated boolean NOT NULL,
  input_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  cache_read_tokens bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  shipped_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_ts ON agent_budget.ledger (ts);

CREATE TABLE agent_budget.counter (
  key text COLLATE "C" PRIMARY KEY,
  used_micros bigint NOT NULL DEFAULT 0
);

CREATE TABLE agent_budget.hold (
  reservation_id text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  micros bigint NOT NULL CHECK (micros >= 0),
  member text NOT NULL,
  machine text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (reservation_id, key)
);
CREATE INDEX hold_key ON agent_budget.hold (key, expires_at) INCLUDE (micros);

-- When each machine last shipped durably (see ship): for whoever wonders whose outbox is behind.
CREATE TABLE agent_budget.machine (
  machine text COLLATE "C" PRIMARY KEY,
  last_ship_at timestamptz NOT NULL
);

-- The six counter keys of a member's call in a period, in the order of the caps arrays:
-- team daily, weekly, monthly, then the member's daily, weekly, monthly.
CREATE FUNCTION agent_budget.scope_keys(p_member text, p_day text, p_week text, p_month text)
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[
    'team.daily@' || p_day, 'team.weekly@' || p_week, 'team.monthly@' || p_month,
    'team.member.' || p_member || '.daily@' || p_day,
    'team.member.' || p_member || '.weekly@' || p_week,
    'team.member.' || p_member || '.monthly@' || p_month]
$$;

-- Locks the counter rows of p_keys in key order, creating missing ones. ON CONFLICT DO UPDATE locks the existing
-- row even though its WHERE false updates nothing, so no new row version is written.
CREATE FUNCTION agent_budget.lock_counters(p_keys text[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO agent_budget.counter AS c (key)
  SELECT DISTINCT k FROM unnest(p_keys) AS k WHERE k IS NOT NULL ORDER BY k
  ON CONFLICT (key) DO UPDATE SET used_micros = c.used_micros WHERE false
$$;

-- Admission: drops expired holds, then holds as much of p_micros as every capped scope has room for, but at least
-- p_min_micros — or nothing, if some capped scope has less room than that (the engine's clamp, on the server: the
-- call's output is then clamped to what was held). All six scopes get the same hold. A retried call with the same
-- reservation id renews and reports the hold it already has instead of adding a second one.
CREATE FUNCTION agent_budget.admit(
  p_reservation text, p_member text, p_machine text, p_periods text[], p_caps bigint[], p_micros bigint,
  p_min_micros bigint, p_lease_ms integer)
RETURNS TABLE (key text, used_micros bigint, held_micros bigint, cap_micros bigint, admitted boolean,
  hold_micros bigint, expires_at_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_keys text[] := agent_budget.scope_keys(p_member, p_periods[1], p_periods[2], p_periods[3]);
  v_used bigint[];
  v_held bigint[];
  v_now timestamptz;
  v_expires timestamptz;
  v_take bigint;
BEGIN
  IF p_min_micros < 0 OR p_min_micros > p_micros OR p_lease_ms <= 0 OR array_length(p_caps, 1) IS DISTINCT FROM 6
  THEN
    RAISE EXCEPTION 'agent_budget.admit: bad arguments (micros %..%, lease %, caps %)', p_min_micros, p_micros,
      p_lease_ms, p_caps;
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true); -- holds are soft state: see schema.ts
  PERFORM agent_budget.lock_counters(v_keys);
  v_now := clock_timestamp();
  v_expires := v_now + make_interval(secs => p_lease_ms / 1000.0);
  DELETE FROM agent_budget.hold h WHERE h.key = ANY (v_keys) AND h.expires_at <= v_now;
  -- Every hold left on these keys is live, and nobody can add one until we commit.
  SELECT array_agg(coalesce(c.used_micros, 0) ORDER BY u.ord), array_agg(coalesce(s.held, 0) ORDER BY u.ord)
    INTO v_used, v_held
    FROM unnest(v_keys) WITH ORDINALITY AS u(k, ord)
    LEFT JOIN agent_budget.counter c ON c.key = u.k
    LEFT JOIN LATERAL (SELECT sum(h.micros)::bigint AS held FROM agent_budget.hold h WHERE h.key = u.k) s ON true;
  WITH renewed AS (
    UPDATE agent_budget.hold h SET expires_at = v_expires
    WHERE h.reservation_id = p_reservation AND h.key = ANY (v_keys)
    RETURNING h.micros
  )
  SELECT max(micros) INTO v_take FROM renewed;
  IF v_take IS NULL THEN
    v_take := p_micros;
    FOR i IN 1..6 LOOP
      IF p_caps[i] IS NOT NULL THEN
        v_take := least(v_take, greatest(p_caps[i] - v_used[i] - v_held[i], 0));
      END IF;
    END LOOP;
    IF v_take >= p_min_micros THEN
      INSERT INTO agent_budget.hold (reservation_id, key, micros, member, machine, expires_at)
      SELECT p_reservation, k, v_take, p_member, p_machine, v_expires FROM unnest(v_keys) AS k;
      FOR i IN 1..6 LOOP
        v_held[i] := v_held[i] + v_take;
      END LOOP;
    ELSE
      v_take := NULL;
    END IF;
  END IF;
  RETURN QUERY
    SELECT v_keys[i], v_used[i], v_held[i], p_caps[i], v_take IS NOT NULL, v_take,
      (extract(epoch FROM v_expires) * 1000)::bigint
    FROM generate_series(1, 6) AS i;
END
$$;

-- Ships ledger rows (a JSON array, see TeamLedgerRow): inserts the new ones, adds their cost to their six
-- counters, and drops the holds of their reservations. Rows already shipped change nothing; a row whose id is
-- known with another member or cost is reported as a conflict (two records with one id) and not counted twice.
-- Durable: returns only once this and every earlier commit is flushed; else commits asynchronously (a settle).
CREATE FUNCTION agent_budget.ship(p_rows jsonb, p_durable boolean)
RETURNS TABLE (counted integer, duplicates integer, conflicts text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_keys text[];
  v_sums bigint[];
  v_counted integer;
  v_reservations text[];
  v_hold_keys text[];
  v_conflicts text[];
BEGIN
  IF p_durable THEN
    -- A synchronous commit waits for the WAL to be flushed up to it only if the transaction wrote WAL; the flush
    -- then also covers earlier asynchronous settles of these rows. So write even when nothing here is new: the
    -- shipping machines' last ship time (one row per machine, so no contention between machines).
    INSERT INTO agent_budget.machine AS m (machine, last_ship_at)
    SELECT m, clock_timestamp() FROM (SELECT DISTINCT e ->> 'machine' AS m FROM jsonb_array_elements(p_rows) AS e) x
    ORDER BY m
    ON CONFLICT (machine) DO UPDATE SET last_ship_at = EXCLUDED.last_ship_at;
  ELSE
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(p_rows) AS r(
      id text, "reservationId" text, member text, machine text, "tsMs" bigint, day text, week text, month text,
      workflow text, provider text, model text, client text, "runId" text, task text, "costMicros" bigint,
      estimated boolean, input bigint, output bigint, "cacheRead" bigint, "cacheWrite" bigint, reasoning bigint)
  ), ins AS (
    INSERT INTO agent_budget.ledger (id, reservation_id, member, machine, ts, day, week, month, workflow, provider,
      model, client, run_id, task, cost_micros, estimated, input_tokens, output_tokens, cache_read_tokens,
      cache_write_tokens, reasoning_tokens)
    SELECT id, "reservationId", member, machine, to_timestamp("tsMs" / 1000.0), day, week, month, workflow,
      provider, model, client, "runId", task, "costMicros", estimated, input, output, "cacheRead", "cacheWrite",
      reasoning
    FROM input ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING member, day, week, month, cost_micros
  ), per_key AS (
    SELECT k, sum(ins.cost_micros)::bigint AS total
    FROM ins CROSS JOIN LATERAL unnest(agent_budget.scope_keys(ins.member, ins.day, ins.week, ins.month)) AS k
    GROUP BY k
  )
  SELECT array_agg(k ORDER BY k), array_agg(total ORDER BY k), (SELECT count(*) FROM ins)
    INTO v_keys, v_sums, v_counted FROM per_key;
  v_counted := coalesce(v_counted, 0);
  v_reservations := ARRAY(SELECT DISTINCT r FROM jsonb_array_elements(p_rows) AS e,
    LATERAL (SELECT e ->> 'reservationId' AS r) x WHERE r IS NOT NULL);
  v_hold_keys := ARRAY(SELECT DISTINCT h.key FROM agent_budget.hold h WHERE h.reservation_id = ANY (v_reservations));
  v_conflicts := ARRAY(
    SELECT DISTINCT i.id FROM jsonb_to_recordset(p_rows) AS i(id text, member text, "costMicros" bigint)
    JOIN agent_budget.ledger l ON l.id = i.id
    WHERE l.member IS DISTINCT FROM i.member OR l.cost_micros IS DISTINCT FROM i."costMicros");
  -- From here to the commit the team's counters are locked: only what must happen under them.
  PERFORM agent_budget.lock_counters(coalesce(v_keys, '{}') || v_hold_keys);
  UPDATE agent_budget.counter c SET used_micros = c.used_micros + u.total
    FROM unnest(v_keys, v_sums) AS u(k, total) WHERE c.key = u.k;
  DELETE FROM agent_budget.hold h WHERE h.reservation_id = ANY (v_reservations);
  RETURN QUERY SELECT v_counted, jsonb_array_length(p_rows) - v_counted, v_conflicts;
END
$$;

-- Frees the holds of reservations whose calls were never billed.
CREATE FUNCTION agent_budget.release(p_reservations text[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM agent_budget.lock_counters(
    ARRAY(SELECT DISTINCT h.key FROM agent_budget.hold h WHERE h.reservation_id = ANY (p_reservations)));
  DELETE FROM agent_budget.hold h WHERE h.reservation_id = ANY (p_reservations);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;

-- Extends the leases of calls still in flight. A hold that already expired is not revived: its room may have been
-- given to someone else. Returns the reservations whose holds are live again.
CREATE FUNCTION agent_budget.renew(p_reservations text[], p_lease_ms integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_renewed text[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM agent_budget.lock_counters(
    ARRAY(SELECT DISTINCT h.key FROM agent_budget.hold h WHERE h.reservation_id = ANY (p_reservations)));
  v_now := clock_timestamp();
  WITH renewed AS (
    UPDATE agent_budget.hold h SET expires_at = v_now + make_interval(secs => p_lease_ms / 1000.0)
    WHERE h.reservation_id = ANY (p_reservations) AND h.expires_at > v_now
    RETURNING h.reservation_id
  )
  SELECT coalesce(array_agg(DISTINCT reservation_id), '{}') INTO v_renewed FROM renewed;
  RETURN v_renewed;
END
$$;

-- Use of a member's six scopes right now (no locks: a reading for status, not a decision).
CREATE FUNCTION agent_budget.status(p_member text, p_periods text[])
RETURNS TABLE (key text, used_micros bigint, held_micros bigint) LANGUAGE sql STABLE AS $$
  SELECT u.k, coalesce(c.used_micros, 0)::bigint,
    coalesce((SELECT sum(h.micros) FROM agent_budget.hold h
              WHERE h.key = u.k AND h.expires_at > clock_timestamp()), 0)::bigint
  FROM unnest(agent_budget.scope_keys(p_member, p_periods[1], p_periods[2], p_periods[3])) WITH ORDINALITY AS u(k, ord)
  LEFT JOIN agent_budget.counter c ON c.key = u.k
  ORDER BY u.ord
$$;
`,
  },
  MIGRATION_2,
];

/** The newest schema version this code knows. */
export const TEAM_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Any advisory-lock key would do; this one is "agent-budget team schema" in a bigint, fixed forever. */
const MIGRATION_LOCK = 0x4162_5465_616d; // "AbTeam"

/** The little of a pg client the migrator needs (a pooled client or a plain one). */
export interface SqlClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[] }>;
}

export class TeamSchemaTooNewError extends AgentBudgetError {
  override readonly name = 'TeamSchemaTooNewError';
  constructor(message: string, options?: ErrorOptions) {
    super('config', message, options);
  }
}

/** The schema version of the database (0 when it has none yet). */
export async function schemaVersion(client: SqlClient): Promise<number> {
  const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('agent_budget.schema_version') AS t`);
  if (!rows[0]?.t) return 0;
  const version = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM agent_budget.schema_version');
  return Number(version.rows[0]?.v ?? 0);
}

/**
 * Brings the database to TEAM_SCHEMA_VERSION (or `target`: the tests build an older user's database): each pending
 * migration in its own transaction under one advisory lock, so machines migrating at once apply each step exactly
 * once (the second waits, then finds it done). A database newer than this code is refused: its functions may not be
 * the ones this code calls. Returns the versions this call applied.
 */
export async function migrate(client: SqlClient, target = TEAM_SCHEMA_VERSION): Promise<number[]> {
  const current = await schemaVersion(client);
  if (current > TEAM_SCHEMA_VERSION) throw tooNew(current);
  if (current >= target) return [];
  const applied: number[] = [];
  for (const migration of MIGRATIONS.filter((m) => m.version <= target)) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        `CREATE SCHEMA IF NOT EXISTS agent_budget;
         CREATE TABLE IF NOT EXISTS agent_budget.schema_version (
           version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const now = await schemaVersion(client);
      if (now > TEAM_SCHEMA_VERSION) throw tooNew(now);
      if (now < migration.version) {
        await client.query(migration.sql);
        await client.query('INSERT INTO agent_budget.schema_version (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        applied.push(migration.version);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  return applied;
}

function tooNew(version: number): TeamSchemaTooNewError {
  return new TeamSchemaTooNewError(
    `The team database's schema is version ${version}, newer than this Agent Budget knows (${TEAM_SCHEMA_VERSION}): ` +
      'a teammate updated first. Update Agent Budget to use the team ledger.',
  );
}
