import type { Migration } from './schema';

/**
 * Schema v2: durable admissions that do not queue the team behind the disk (issue 16's admission latency).
 *
 * v1 committed holds asynchronously so the hot `team.*` counter locks were not held across the WAL flush, which let a
 * server crash forget answered holds (an overshoot). v2 makes every answer durable and still keeps the flush out of
 * the locks: each mutating call is a procedure that
 *   1. decides under the counter locks and commits that transaction with synchronous_commit off, which releases the
 *      locks (and makes the decision visible) as soon as its commit record is in the WAL buffers, then
 *   2. in a second transaction writes one row of its own (`flush_mark`, keyed by the server process, so no caller
 *      ever waits on another) with a synchronous commit, which returns only once the WAL is on disk up to there —
 *      past the first transaction's commit record — and only then answers.
 * Why the asynchronous first commit loses nothing that matters: the caller is answered only after step 2, so a crash
 * before the flush loses only decisions nobody was told of (the call fails as unreachable; a retry is idempotent by
 * reservation or row id). Another caller may read such a decision before it is flushed, but the WAL is flushed in
 * order and its own commit record comes later, so its answer waits for — and makes durable — everything it read.
 * Concurrent callers' flushes are one disk write (group commit) outside every lock.
 *
 * The hot path also touches fewer rows: a reservation is one row (its six counter keys in an array) instead of six,
 * and each counter carries the sum of its holds (`held_micros`), kept by every statement that adds or removes a
 * reservation under that counter's lock, so an admission no longer sums the hold table.
 *
 * Invariant: counter.held_micros = the sum of `micros` of the reservations listing that key, lapsed ones included
 * until someone frees them. Whoever deletes a reservation first locks the counters of its keys (in key order, with
 * its own), so the two change together; `renew` touches no counter and changes only a live lease.
 *
 * The v1 functions keep their names and signatures on top of the v2 tables, so a teammate still running the older
 * Agent Budget keeps working against the upgraded database (each of its calls durable, just slower).
 */
export const MIGRATION_2: Migration = {
  version: 2,
  name: 'one row per reservation, held totals on the counters, durable admission procedures',
  sql: /* sql */ `
LOCK TABLE agent_budget.counter, agent_budget.hold IN ACCESS EXCLUSIVE MODE;

ALTER TABLE agent_budget.counter ADD COLUMN held_micros bigint NOT NULL DEFAULT 0;

CREATE TABLE agent_budget.reservation (
  id text COLLATE "C" PRIMARY KEY,
  keys text[] NOT NULL,
  micros bigint NOT NULL CHECK (micros >= 0),
  member text NOT NULL,
  machine text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX reservation_expires ON agent_budget.reservation (expires_at);

-- The holds of a v1 database carry over: one reservation per reservation id, and the counters' held totals.
INSERT INTO agent_budget.reservation (id, keys, micros, member, machine, expires_at)
SELECT reservation_id, array_agg(key ORDER BY key), max(micros), min(member), min(machine), min(expires_at)
FROM agent_budget.hold GROUP BY reservation_id;
UPDATE agent_budget.counter c SET held_micros = s.held
FROM (SELECT k, sum(r.micros)::bigint AS held FROM agent_budget.reservation r, unnest(r.keys) AS k GROUP BY k) s
WHERE c.key = s.k;
DROP TABLE agent_budget.hold;

-- What a call writes so that its (synchronous) commit waits for the WAL flush: one row per server process, so no
-- caller waits on another. It must stay a logged table: an unlogged write would not wait for the disk.
CREATE TABLE agent_budget.flush_mark (
  pid integer PRIMARY KEY,
  at timestamptz NOT NULL
);

-- Returns once the WAL is on disk up to this transaction's commit, which is past every commit before it.
CREATE FUNCTION agent_budget.await_flush() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- A role or database default of 'off' must not make the answer precede the disk ('local' keeps a replica
  -- setting such as remote_apply out of it; any other value already waits at least for the local flush).
  IF current_setting('synchronous_commit') = 'off' THEN
    PERFORM set_config('synchronous_commit', 'local', true);
  END IF;
  INSERT INTO agent_budget.flush_mark AS f (pid, at) VALUES (pg_backend_pid(), clock_timestamp())
  ON CONFLICT (pid) DO UPDATE SET at = EXCLUDED.at;
END
$$;

-- Locks the counter rows of p_keys in key order and returns them (keys in that order), creating missing ones first (v1's returned
-- nothing and was a SQL-language function, planned again on every call; plpgsql caches its plans). The inserts take
-- no lock on an existing row and go in key order, then the locks are taken in key order (FOR UPDATE applies after the
-- sort), and read committed returns each row as its last holder committed it: no two callers wait in a cycle.
DROP FUNCTION agent_budget.lock_counters(text[]);
CREATE FUNCTION agent_budget.lock_counters(p_keys text[], OUT r_keys text[], OUT r_used bigint[], OUT r_held bigint[])
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_budget.counter (key)
  SELECT DISTINCT u.key FROM unnest(p_keys) AS u(key) WHERE u.key IS NOT NULL ORDER BY u.key
  ON CONFLICT DO NOTHING;
  SELECT array_agg(l.key), array_agg(l.used_micros), array_agg(l.held_micros) INTO r_keys, r_used, r_held
    FROM (SELECT c.key, c.used_micros, c.held_micros FROM agent_budget.counter c
          WHERE c.key = ANY (p_keys) ORDER BY c.key FOR UPDATE) l;
END
$$;

-- Under the locks of p_locked (the caller holds them): deletes the reservations p_ids whose keys are all locked —
-- when p_lapsed_at is set, only those whose lease ran out by then — takes their holds off their counters and adds
-- p_spent to the counters p_spent_keys, in one update of each counter row.
CREATE FUNCTION agent_budget.move_counters(p_locked text[], p_ids text[], p_lapsed_at timestamptz,
  p_spent_keys text[], p_spent bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  WITH gone AS (
    DELETE FROM agent_budget.reservation r
    WHERE r.id = ANY (p_ids) AND r.keys <@ p_locked AND (p_lapsed_at IS NULL OR r.expires_at <= p_lapsed_at)
    RETURNING r.keys, r.micros
  ), delta AS (
    SELECT d.k, sum(d.spent)::bigint AS spent, sum(d.freed)::bigint AS freed FROM (
      SELECT s.k, s.spent, 0::bigint AS freed FROM unnest(p_spent_keys, p_spent) AS s(k, spent)
      UNION ALL
      SELECT k, 0, g.micros FROM gone g, unnest(g.keys) AS k
    ) d WHERE d.k IS NOT NULL GROUP BY d.k
  )
  UPDATE agent_budget.counter c
  SET used_micros = c.used_micros + delta.spent, held_micros = c.held_micros - delta.freed
  FROM delta WHERE c.key = delta.k;
END
$$;

-- Admission (v1's contract: see agent_budget.admit), deciding in the caller's transaction. Frees every lapsed
-- reservation it finds (a crashed or cut-off machine's), then holds as much of p_micros as every capped scope has
-- room for, but at least p_min_micros — or nothing. A retried call with the same reservation id renews and reports
-- the hold it already has. Returns the six keys (capsArray order) with their used and held (this hold included),
-- the hold (null: refused) and when its lease ends.
CREATE FUNCTION agent_budget.admit_decide(
  p_reservation text, p_member text, p_machine text, p_periods text[], p_caps bigint[], p_micros bigint,
  p_min_micros bigint, p_lease_ms integer,
  OUT r_keys text[], OUT r_used bigint[], OUT r_held bigint[], OUT r_hold bigint, OUT r_expires_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_keys text[] := agent_budget.scope_keys(p_member, p_periods[1], p_periods[2], p_periods[3]);
  v_lapsed text[];
  v_lapsed_keys text[];
  v_locked text[];
  v_locked_keys text[];
  v_locked_used bigint[];
  v_locked_held bigint[];
  v_at integer;
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
  -- A retried admission whose hold is still live renews it and reports it, without the team's locks.
  v_now := clock_timestamp();
  v_expires := v_now + make_interval(secs => p_lease_ms / 1000.0);
  UPDATE agent_budget.reservation r SET expires_at = v_expires WHERE r.id = p_reservation AND r.expires_at > v_now
    RETURNING r.micros INTO v_take;
  IF v_take IS NOT NULL THEN
    SELECT array_agg(coalesce(c.used_micros, 0) ORDER BY u.ord), array_agg(coalesce(c.held_micros, 0) ORDER BY u.ord)
      INTO v_used, v_held
      FROM unnest(v_keys) WITH ORDINALITY AS u(k, ord) LEFT JOIN agent_budget.counter c ON c.key = u.k;
  ELSE
    -- Lapsed reservations (a crashed or cut-off machine's; usually none), found without locks: their counters are
    -- locked with ours, in order, before they are freed.
    SELECT array_agg(DISTINCT r.id), array_agg(DISTINCT k) INTO v_lapsed, v_lapsed_keys
      FROM agent_budget.reservation r, unnest(r.keys) AS k WHERE r.expires_at <= v_now;
    v_locked := v_keys || coalesce(v_lapsed_keys, '{}');
    -- From here to the commit the team's counters are locked: only the decision and its two writes.
    SELECT * INTO v_locked_keys, v_locked_used, v_locked_held FROM agent_budget.lock_counters(v_locked);
    FOR i IN 1..6 LOOP
      v_at := array_position(v_locked_keys, v_keys[i]);
      v_used[i] := v_locked_used[v_at];
      v_held[i] := v_locked_held[v_at];
    END LOOP;
    -- Read after the locks are held: a transaction that waited decides at the time it decides.
    v_now := clock_timestamp();
    v_expires := v_now + make_interval(secs => p_lease_ms / 1000.0);
    IF v_lapsed IS NOT NULL THEN
      PERFORM agent_budget.move_counters(v_locked, v_lapsed, v_now, NULL, NULL);
      SELECT array_agg(c.held_micros ORDER BY u.ord) INTO v_held
        FROM unnest(v_keys) WITH ORDINALITY AS u(k, ord) JOIN agent_budget.counter c ON c.key = u.k;
    END IF;
    v_take := p_micros;
    FOR i IN 1..6 LOOP
      IF p_caps[i] IS NOT NULL THEN
        v_take := least(v_take, greatest(p_caps[i] - v_used[i] - v_held[i], 0));
      END IF;
    END LOOP;
    IF v_take >= p_min_micros THEN
      WITH reserved AS (
        INSERT INTO agent_budget.reservation (id, keys, micros, member, machine, expires_at)
        VALUES (p_reservation, v_keys, v_take, p_member, p_machine, v_expires)
      )
      UPDATE agent_budget.counter c SET held_micros = c.held_micros + v_take WHERE c.key = ANY (v_keys);
      FOR i IN 1..6 LOOP
        v_held[i] := v_held[i] + v_take;
      END LOOP;
    ELSE
      v_take := NULL;
    END IF;
  END IF;
  r_keys := v_keys;
  r_used := v_used;
  r_held := v_held;
  r_hold := v_take;
  r_expires_ms := (extract(epoch FROM v_expires) * 1000)::bigint;
END
$$;

-- Ships ledger rows (v1's contract: see agent_budget.ship) in the caller's transaction: inserts the new ones, adds
-- their cost to their six counters and frees their reservations' holds. p_outbox: an outbox drain, which also
-- records when each shipping machine last shipped.
CREATE FUNCTION agent_budget.ship_rows(p_rows jsonb, p_outbox boolean)
RETURNS TABLE (counted integer, duplicates integer, conflicts text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_keys text[];
  v_sums bigint[];
  v_counted integer;
  v_reservations text[];
  v_locked text[];
  v_conflicts text[];
BEGIN
  IF p_outbox THEN
    INSERT INTO agent_budget.machine AS m (machine, last_ship_at)
    SELECT m, clock_timestamp() FROM (SELECT DISTINCT e ->> 'machine' AS m FROM jsonb_array_elements(p_rows) AS e) x
    ORDER BY m
    ON CONFLICT (machine) DO UPDATE SET last_ship_at = EXCLUDED.last_ship_at;
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
  v_reservations := ARRAY(SELECT DISTINCT e ->> 'reservationId' FROM jsonb_array_elements(p_rows) AS e
    WHERE e ->> 'reservationId' IS NOT NULL);
  -- Only a row that was already there can conflict (the usual settle inserts its row: nothing to look up).
  IF v_counted < jsonb_array_length(p_rows) THEN
    v_conflicts := ARRAY(
      SELECT DISTINCT i.id FROM jsonb_to_recordset(p_rows) AS i(id text, member text, "costMicros" bigint)
      JOIN agent_budget.ledger l ON l.id = i.id
      WHERE l.member IS DISTINCT FROM i.member OR l.cost_micros IS DISTINCT FROM i."costMicros");
  ELSE
    v_conflicts := '{}';
  END IF;
  -- The keys of the holds to free (a reservation's keys never change, so reading them before the locks is safe).
  v_locked := coalesce(v_keys, '{}') || ARRAY(SELECT DISTINCT k FROM agent_budget.reservation r, unnest(r.keys) AS k
    WHERE r.id = ANY (v_reservations));
  -- From here to the commit the team's counters are locked: only what must happen under them.
  PERFORM agent_budget.lock_counters(v_locked);
  PERFORM agent_budget.move_counters(v_locked, v_reservations, NULL, v_keys, v_sums);
  RETURN QUERY SELECT v_counted, jsonb_array_length(p_rows) - v_counted, v_conflicts;
END
$$;

-- The durable calls PostgresTeamLedger makes since v2: decide and commit without waiting for the disk (the counter
-- locks go at once), then wait for the disk outside them before answering (see schema.ts, "Durability").
CREATE PROCEDURE agent_budget.admit_durably(
  p_reservation text, p_member text, p_machine text, p_periods text[], p_caps bigint[], p_micros bigint,
  p_min_micros bigint, p_lease_ms integer,
  INOUT r_keys text[], INOUT r_used bigint[], INOUT r_held bigint[], INOUT r_hold bigint, INOUT r_expires_ms bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO r_keys, r_used, r_held, r_hold, r_expires_ms FROM agent_budget.admit_decide(p_reservation, p_member,
    p_machine, p_periods, p_caps, p_micros, p_min_micros, p_lease_ms);
  COMMIT;
  PERFORM agent_budget.await_flush();
END
$$;

CREATE PROCEDURE agent_budget.ship_durably(p_rows jsonb, p_outbox boolean,
  INOUT r_counted integer, INOUT r_duplicates integer, INOUT r_conflicts text[])
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT s.counted, s.duplicates, s.conflicts INTO r_counted, r_duplicates, r_conflicts
    FROM agent_budget.ship_rows(p_rows, p_outbox) AS s;
  COMMIT;
  -- Always, even when nothing here was new: rows another caller committed and has not flushed yet are reported as
  -- duplicates, which the outbox then marks shipped, so they must be on disk first.
  PERFORM agent_budget.await_flush();
END
$$;

CREATE PROCEDURE agent_budget.release_durably(p_reservations text[], INOUT r_count integer)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  r_count := agent_budget.release(p_reservations);
  COMMIT;
  PERFORM agent_budget.await_flush();
END
$$;

-- The v1 functions on the v2 tables, for older clients (and release/renew/status for this one). Called alone
-- (not from the procedures above) they commit synchronously: durable, with the locks held across the flush.
CREATE OR REPLACE FUNCTION agent_budget.admit(
  p_reservation text, p_member text, p_machine text, p_periods text[], p_caps bigint[], p_micros bigint,
  p_min_micros bigint, p_lease_ms integer)
RETURNS TABLE (key text, used_micros bigint, held_micros bigint, cap_micros bigint, admitted boolean,
  hold_micros bigint, expires_at_ms bigint)
LANGUAGE sql AS $$
  SELECT d.r_keys[i], d.r_used[i], d.r_held[i], p_caps[i], d.r_hold IS NOT NULL, d.r_hold, d.r_expires_ms
  FROM agent_budget.admit_decide(p_reservation, p_member, p_machine, p_periods, p_caps, p_micros, p_min_micros,
    p_lease_ms) AS d, generate_series(1, 6) AS i
  ORDER BY i
$$;

CREATE OR REPLACE FUNCTION agent_budget.ship(p_rows jsonb, p_durable boolean)
RETURNS TABLE (counted integer, duplicates integer, conflicts text[])
LANGUAGE sql AS $$
  SELECT * FROM agent_budget.ship_rows(p_rows, p_durable)
$$;

CREATE OR REPLACE FUNCTION agent_budget.release(p_reservations text[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_locked text[] := ARRAY(SELECT DISTINCT k FROM agent_budget.reservation r, unnest(r.keys) AS k
    WHERE r.id = ANY (p_reservations));
  v_count integer;
BEGIN
  PERFORM agent_budget.lock_counters(v_locked);
  SELECT count(*) INTO v_count FROM agent_budget.reservation r WHERE r.id = ANY (p_reservations);
  PERFORM agent_budget.move_counters(v_locked, p_reservations, NULL, NULL, NULL);
  RETURN v_count;
END
$$;

-- Extends the leases of calls still in flight; a lapsed one is not revived (its room may be someone else's now).
-- Touches no counter (a lease is not an amount), so it takes none of the team's locks and may simply commit
-- synchronously: a renewal lost in a crash would let a hold lapse early while its call still runs.
CREATE OR REPLACE FUNCTION agent_budget.renew(p_reservations text[], p_lease_ms integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_renewed text[];
BEGIN
  IF current_setting('synchronous_commit') = 'off' THEN
    PERFORM set_config('synchronous_commit', 'local', true);
  END IF;
  WITH renewed AS (
    UPDATE agent_budget.reservation r SET expires_at = v_now + make_interval(secs => p_lease_ms / 1000.0)
    WHERE r.id = ANY (p_reservations) AND r.expires_at > v_now
    RETURNING r.id
  )
  SELECT coalesce(array_agg(id), '{}') INTO v_renewed FROM renewed;
  RETURN v_renewed;
END
$$;

-- Use of a member's six scopes right now (no locks: a reading for status, not a decision); lapsed holds not yet
-- freed do not count.
CREATE OR REPLACE FUNCTION agent_budget.status(p_member text, p_periods text[])
RETURNS TABLE (key text, used_micros bigint, held_micros bigint) LANGUAGE sql STABLE AS $$
  SELECT u.k, coalesce(c.used_micros, 0)::bigint,
    (coalesce(c.held_micros, 0) - coalesce((SELECT sum(r.micros) FROM agent_budget.reservation r
       WHERE r.expires_at <= clock_timestamp() AND u.k = ANY (r.keys)), 0))::bigint
  FROM unnest(agent_budget.scope_keys(p_member, p_periods[1], p_periods[2], p_periods[3])) WITH ORDINALITY AS u(k, ord)
  LEFT JOIN agent_budget.counter c ON c.key = u.k
  ORDER BY u.ord
$$;
`,
};
