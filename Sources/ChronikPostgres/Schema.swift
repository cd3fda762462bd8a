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
            stream text NOT NULL,
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
        "CREATE TABLE IF NOT EXISTS chronik_streams (stream text PRIMARY KEY, last_version bigint NOT NULL)",
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
    static let appendFunction = """
        CREATE OR REPLACE FUNCTION chronik_append(
            p_streams text[], p_expected bigint[], p_counts int[], p_ids uuid[], p_types text[],
            p_occurred bigint[], p_metas bytea[], p_datas bytea[], p_crcs bigint[], p_digests bytea[])
        RETURNS TABLE (r_status int, r_first_position bigint, r_first_version bigint, r_actual bigint,
                       r_positions bigint[], r_versions bigint[])
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_next bigint; v_chain bytea; v_now bigint;
            b int; off int := 0; n int; s text; exp bigint; cur bigint;
            known int; same int; ps bigint[]; vs bigint[]; ver0 bigint; buf bytea;
        BEGIN
            SELECT h.next_position, h.last_chain INTO v_next, v_chain FROM chronik_head h WHERE h.id = 1 FOR UPDATE;
            v_now := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
            FOR b IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
                n := p_counts[b]; s := p_streams[b]; exp := p_expected[b];
                SELECT count(e.id),
                       count(e.id) FILTER (WHERE e.stream = s AND e.type = x.t AND e.meta = x.m AND e.data = x.d),
                       array_agg(e.position ORDER BY x.k), array_agg(e.version ORDER BY x.k)
                  INTO known, same, ps, vs
                  FROM unnest(p_ids[off + 1 : off + n], p_types[off + 1 : off + n], p_metas[off + 1 : off + n],
                              p_datas[off + 1 : off + n]) WITH ORDINALITY AS x(id, t, m, d, k)
                  LEFT JOIN chronik_events e ON e.id = x.id;
                IF known > 0 THEN
                    IF known = n AND same = n THEN
                        RETURN QUERY SELECT 1, ps[1], vs[1], NULL::bigint, ps, vs;
                    ELSE
                        RETURN QUERY SELECT 2, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint[], NULL::bigint[];
                    END IF;
                    off := off + n;
                    CONTINUE;
                END IF;
                cur := NULL;
                SELECT st.last_version INTO cur FROM chronik_streams st WHERE st.stream = s;
                IF (exp = -2 AND cur IS NOT NULL) OR (exp = -3 AND cur IS NULL)
                   OR (exp >= 0 AND (cur IS NULL OR cur <> exp)) THEN
                    RETURN QUERY SELECT 3, NULL::bigint, NULL::bigint, cur, NULL::bigint[], NULL::bigint[];
                    off := off + n;
                    CONTINUE;
                END IF;
                ver0 := coalesce(cur + 1, 0);
                INSERT INTO chronik_events (position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc)
                    SELECT v_next + x.k - 1, s, ver0 + x.k - 1, x.id, x.t, x.o, v_now, x.m, x.d, x.c
                      FROM unnest(p_ids[off + 1 : off + n], p_types[off + 1 : off + n], p_occurred[off + 1 : off + n],
                                  p_metas[off + 1 : off + n], p_datas[off + 1 : off + n], p_crcs[off + 1 : off + n])
                           WITH ORDINALITY AS x(id, t, o, m, d, c, k);
                SELECT v_chain || int8send(v_next) || int8send(ver0) || int8send(v_now) || int4send(n)
                       || string_agg(y.dg, ''::bytea ORDER BY y.k)
                  INTO buf
                  FROM unnest(p_digests[off + 1 : off + n]) WITH ORDINALITY AS y(dg, k);
                v_chain := sha256(buf);
                INSERT INTO chronik_batches (first_position, event_count, chain) VALUES (v_next, n, v_chain);
                INSERT INTO chronik_streams (stream, last_version) VALUES (s, ver0 + n - 1)
                    ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version;
                RETURN QUERY SELECT 0, v_next, ver0, NULL::bigint, NULL::bigint[], NULL::bigint[];
                v_next := v_next + n;
                off := off + n;
            END LOOP;
            UPDATE chronik_head SET next_position = v_next, last_chain = v_chain WHERE id = 1;
            PERFORM pg_notify('chronik_append', v_next::text);
        END
        $fn$
        """
}

