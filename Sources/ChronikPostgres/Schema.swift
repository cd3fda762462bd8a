import ChronikLog

/// The schema and the append function, as docs/POSTGRES.md describes them.
/// `PostgresStore.migrate()` runs this; every statement is idempotent.
enum Schema {
    /// `ExpectedVersion` as `chronik_append` takes it: an exact version is
    /// itself (≥ 0), the other cases negative codes.
    static func code(_ expected: ExpectedVersion) -> Int64 {
        switch expected {
        case .any: -1
        case .noStream: -2
        case .exists: -3
        case .exact(let v): Int64(v)
        }
    }

    /// Text keys (`stream`, `subject`) are `COLLATE "C"`: their indexes
    /// compare bytes, whatever locale the database was created with (a
    /// locale's `strcoll` cost ~6 % of the 1,000-event batch rate here;
    /// docs/POSTGRES.md, "Stop 31"). Equality is byte equality under every
    /// deterministic collation, so uniqueness means the same under either.
    static let statements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS chronik_head (
            id int PRIMARY KEY CHECK (id = 1),
            next_position bigint NOT NULL,
            last_chain bytea NOT NULL)
        """,
        "INSERT INTO chronik_head VALUES (1, 0, decode(repeat('00', 32), 'hex')) ON CONFLICT DO NOTHING",
        """
        CREATE TABLE IF NOT EXISTS chronik_events (
            position bigint PRIMARY KEY,
            stream text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            id uuid NOT NULL UNIQUE,
            type text NOT NULL,
            occurred_at bigint NOT NULL,
            recorded_at bigint NOT NULL,
            meta bytea NOT NULL,
            data bytea NOT NULL,
            crc bigint NOT NULL,
            UNIQUE (stream, version))
        """,
        """
        CREATE TABLE IF NOT EXISTS chronik_batches (
            first_position bigint PRIMARY KEY,
            event_count int NOT NULL,
            chain bytea NOT NULL)
        """,
        "CREATE TABLE IF NOT EXISTS chronik_streams (stream text COLLATE \"C\" PRIMARY KEY, last_version bigint NOT NULL)",
        // Per-subject keys of personal data, sealed under the servers' master
        // key (PostgresKeyStore); a destroyed subject keeps its row, keyless.
        """
        CREATE TABLE IF NOT EXISTS chronik_subject_keys (
            subject text COLLATE "C" PRIMARY KEY,
            sealed bytea,
            destroyed_at timestamptz,
            CHECK ((sealed IS NULL) <> (destroyed_at IS NULL)))
        """,
        appendFunction,
    ]

    /// Statuses `chronik_append` returns per batch.
    enum Status: Int32 {
        case appended = 0
        case idempotentRetry = 1
        case duplicateId = 2
        case wrongExpectedVersion = 3
    }

    /// Several batches in one call (group commit); see docs/POSTGRES.md,
    /// "Appending". The head row's lock serialises every appender in every
    /// process until COMMIT, which is what makes positions gap-free and in
    /// commit order. A refused batch returns a status instead of raising, so
    /// that the other batches of the group still commit.
    ///
    /// Set-based: every event of every batch is inserted by one `INSERT …
    /// SELECT FROM unnest(…)`; versions and positions are arithmetic on the
    /// batch's first ones; the loops run over batches, on values in memory
    /// (expected versions per stream in batch order, positions, the chain).
    /// Idempotency costs nothing on the way in: the insert first assumes that
    /// no id is stored yet, and the unique index on `id` checks it; a
    /// `unique_violation` rolls the block back to run it again with one
    /// lookup of all the call's ids (a retry). A batch refused for its
    /// expected version is checked the same way before the answer (a retry
    /// is answered as a retry even when its stream has moved on since). The new ids of one call must be
    /// distinct: the client never puts two batches sharing an id into one
    /// group (a call that does is refused whole by the unique index). Same
    /// signature and result as the row-by-row version it replaces, so
    /// `migrate()` upgrades an existing database in place (CREATE OR
    /// REPLACE; the tables are unchanged).
    static let appendFunction = """
        CREATE OR REPLACE FUNCTION chronik_append(
            p_streams text[], p_expected bigint[], p_counts int[], p_ids uuid[], p_types text[],
            p_occurred bigint[], p_metas bytea[], p_datas bytea[], p_crcs bigint[], p_digests bytea[])
        RETURNS TABLE (r_status int, r_first_position bigint, r_first_version bigint, r_actual bigint,
                       r_positions bigint[], r_versions bigint[])
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_next bigint; v_chain bytea; v_now bigint;
            v_batches int := coalesce(array_length(p_streams, 1), 0);
            v_events int := coalesce(array_length(p_ids, 1), 0);
            v_of int[];                         -- per event: its batch
            v_off int[];                        -- per batch: events before it in the call
            v_status int[]; v_pos bigint[]; v_ver bigint[]; v_actual bigint[]; v_chains bytea[];
            v_known int[]; v_same int[];        -- per batch: ids already stored, and of those with the same content
            v_digests bytea[];                  -- per batch: its events' digests, concatenated
            v_stream text; v_cur bigint; v_total int; i int; r record;
            v_pos1 bigint; v_ver1 bigint;       -- the one batch's first position and version
            v_next0 bigint; v_chain0 bytea; v_lookup boolean := false;  -- look the ids up before inserting
        BEGIN
            SELECT h.next_position, h.last_chain INTO v_next, v_chain FROM chronik_head h WHERE h.id = 1 FOR UPDATE;
            v_now := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
            IF v_batches = 0 THEN RETURN; END IF;
            IF array_length(p_expected, 1) IS DISTINCT FROM v_batches OR array_length(p_counts, 1) IS DISTINCT FROM v_batches
               OR (SELECT sum(c) FROM unnest(p_counts) c) IS DISTINCT FROM v_events::bigint
               OR EXISTS (SELECT FROM unnest(p_counts) c WHERE c IS NULL OR c < 1) THEN
                RAISE EXCEPTION 'chronik_append: % batches, % events: the per-batch arrays do not describe the events', v_batches, v_events;
            END IF;
            -- Per event its batch (set-based; one batch: an array fill).
            IF v_batches = 1 THEN
                v_of := array_fill(1, ARRAY[v_events]);
            ELSE
                SELECT array_agg(c.b ORDER BY c.b) INTO v_of
                  FROM unnest(p_counts) WITH ORDINALITY AS c(n, b), generate_series(1, c.n);
            END IF;
            -- Per batch its events' digests, concatenated: as the client sends
            -- them (one element per batch), or, from an older client,
            -- one element per event, concatenated here (both are the same when
            -- every batch holds one event).
            IF array_length(p_digests, 1) = v_batches THEN
                IF EXISTS (SELECT FROM unnest(p_digests, p_counts) AS x(dg, n) WHERE length(x.dg) IS DISTINCT FROM 32 * x.n) THEN
                    RAISE EXCEPTION 'chronik_append: a batch''s digests are not 32 bytes per event';
                END IF;
                v_digests := p_digests;
            ELSIF array_length(p_digests, 1) = v_events THEN
                SELECT array_agg(q.dg ORDER BY q.b) INTO v_digests
                  FROM (SELECT x.b, string_agg(x.dg, ''::bytea ORDER BY x.k) AS dg
                          FROM unnest(p_digests, v_of) WITH ORDINALITY AS x(dg, b, k) GROUP BY x.b) q;
            ELSE
                RAISE EXCEPTION 'chronik_append: % digests for % batches of % events', coalesce(array_length(p_digests, 1), 0), v_batches, v_events;
            END IF;
            v_next0 := v_next; v_chain0 := v_chain;
            -- First assume that no id is stored yet (the unique index on id checks
            -- it while inserting); if one is, this block is rolled back and run
            -- again with the ids looked up (retries are rare).
            LOOP
                BEGIN
                    v_next := v_next0; v_chain := v_chain0; v_stream := NULL; v_total := 0;
                    v_status := array_fill(0, ARRAY[v_batches]); v_known := v_status; v_same := v_status; v_off := v_status;
                    v_pos := array_fill(0::bigint, ARRAY[v_batches]); v_ver := v_pos;
                    v_actual := array_fill(NULL::bigint, ARRAY[v_batches]); v_chains := array_fill(NULL::bytea, ARRAY[v_batches]);
                    IF v_lookup THEN
                        FOR r IN SELECT x.b, count(*) AS known,
                                        count(*) FILTER (WHERE e.stream = p_streams[x.b] AND e.type = x.t AND e.meta = x.m AND e.data = x.d) AS same
                                   FROM unnest(p_ids, p_types, p_metas, p_datas, v_of) AS x(id, t, m, d, b)
                                   JOIN (SELECT * FROM chronik_events WHERE id = ANY (p_ids)) e ON e.id = x.id
                                  GROUP BY x.b LOOP
                            v_known[r.b] := r.known; v_same[r.b] := r.same;
                        END LOOP;
                    END IF;
                    -- Expected versions, per stream in batch order (a refused batch does not advance its stream).
                    FOR r IN SELECT g.b, p_streams[g.b] AS s, p_expected[g.b] AS exp, p_counts[g.b] AS n,
                                    (SELECT st.last_version FROM chronik_streams st WHERE st.stream = p_streams[g.b]) AS cur
                               FROM generate_subscripts(p_streams, 1) AS g(b)
                              ORDER BY p_streams[g.b] COLLATE "C", g.b LOOP
                        IF v_stream IS DISTINCT FROM r.s THEN v_stream := r.s; v_cur := r.cur; END IF;
                        IF v_known[r.b] > 0 THEN
                            v_status[r.b] := CASE WHEN v_known[r.b] = r.n AND v_same[r.b] = r.n THEN 1 ELSE 2 END;
                        ELSIF (r.exp = -2 AND v_cur IS NOT NULL) OR (r.exp = -3 AND v_cur IS NULL)
                              OR (r.exp >= 0 AND (v_cur IS NULL OR v_cur <> r.exp)) THEN
                            v_status[r.b] := 3; v_actual[r.b] := v_cur;
                        ELSE
                            v_ver[r.b] := coalesce(v_cur + 1, 0);
                            v_cur := v_ver[r.b] + r.n - 1;
                        END IF;
                    END LOOP;
                    -- A batch refused for its version may be a retry (ids are
                    -- checked before versions): look the ids up first.
                    IF NOT v_lookup AND 3 = ANY (v_status) THEN
                        v_lookup := true;
                        CONTINUE;
                    END IF;
                    -- Positions and the chain, in batch order.
                    FOR i IN 1 .. v_batches LOOP
                        v_off[i] := v_total;
                        v_total := v_total + p_counts[i];
                        IF v_status[i] = 0 THEN
                            v_pos[i] := v_next;
                            v_chain := sha256(v_chain || int8send(v_next) || int8send(v_ver[i]) || int8send(v_now)
                                              || int4send(p_counts[i]) || v_digests[i]);
                            v_chains[i] := v_chain;
                            v_next := v_next + p_counts[i];
                        END IF;
                    END LOOP;
                    IF v_batches = 1 THEN
                        -- One batch (a large append): no per-row look-up of its batch.
                        IF v_status[1] = 0 THEN
                            v_pos1 := v_pos[1]; v_ver1 := v_ver[1]; v_stream := p_streams[1];
                            INSERT INTO chronik_events (position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc)
                                SELECT v_pos1 + (x.k - 1), v_stream, v_ver1 + (x.k - 1), x.id, x.t, x.o, v_now, x.m, x.d, x.c
                                  FROM unnest(p_ids, p_types, p_occurred, p_metas, p_datas, p_crcs)
                                       WITH ORDINALITY AS x(id, t, o, m, d, c, k);
                        END IF;
                    ELSE
                        INSERT INTO chronik_events (position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc)
                            SELECT v_pos[x.b] + (x.k - 1 - v_off[x.b]), p_streams[x.b], v_ver[x.b] + (x.k - 1 - v_off[x.b]),
                                   x.id, x.t, x.o, v_now, x.m, x.d, x.c
                              FROM unnest(p_ids, p_types, p_occurred, p_metas, p_datas, p_crcs, v_of)
                                   WITH ORDINALITY AS x(id, t, o, m, d, c, b, k)
                             WHERE v_status[x.b] = 0;
                    END IF;
                    INSERT INTO chronik_batches (first_position, event_count, chain)
                        SELECT v_pos[g.b], p_counts[g.b], v_chains[g.b] FROM generate_subscripts(p_streams, 1) AS g(b) WHERE v_status[g.b] = 0;
                    INSERT INTO chronik_streams (stream, last_version)
                        SELECT p_streams[g.b], max(v_ver[g.b] + p_counts[g.b] - 1)
                          FROM generate_subscripts(p_streams, 1) AS g(b) WHERE v_status[g.b] = 0 GROUP BY p_streams[g.b]
                        ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version;
                    UPDATE chronik_head SET next_position = v_next, last_chain = v_chain WHERE id = 1;
                    PERFORM pg_notify('chronik_append', v_next::text);
                    EXIT;
                EXCEPTION WHEN unique_violation THEN
                    IF v_lookup THEN RAISE; END IF;
                    v_lookup := true;
                END;
            END LOOP;
            -- One row per batch, in order; a retry's original positions are read back (rare).
            FOR i IN 1 .. v_batches LOOP
                r_status := v_status[i]; r_actual := v_actual[i]; r_positions := NULL; r_versions := NULL;
                r_first_position := CASE WHEN v_status[i] = 0 THEN v_pos[i] END;
                r_first_version := CASE WHEN v_status[i] = 0 THEN v_ver[i] END;
                IF v_status[i] = 1 THEN
                    SELECT array_agg(e.position ORDER BY x.k), array_agg(e.version ORDER BY x.k) INTO r_positions, r_versions
                      FROM unnest(p_ids[v_off[i] + 1 : v_off[i] + p_counts[i]]) WITH ORDINALITY AS x(id, k)
                      JOIN (SELECT * FROM chronik_events WHERE id = ANY (p_ids[v_off[i] + 1 : v_off[i] + p_counts[i]])) e ON e.id = x.id;
                    r_first_position := r_positions[1]; r_first_version := r_versions[1];
                END IF;
                RETURN NEXT;
            END LOOP;
        END
        $fn$
        """
}
