"""The store's tables: one Arrow schema per table, and the views analysts query.

Every table is a folder of immutable Parquet segments (see ``layout``). The
schemas below are the contract with notebooks and ``journeys sql``: add columns
at the end, never rename one (old segments are read with ``union_by_name``, so
a column added later reads as NULL in older rows).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["TABLES", "VIEWS_SQL", "timestamp"]

timestamp = pa.timestamp("us", tz="UTC")

TABLES: dict[str, pa.Schema] = {
    # One row when a run starts, one when it ends: a run killed with -9 has no end row.
    "runs_started": pa.schema([
        ("run_id", pa.string()), ("started_at", timestamp), ("host", pa.string()),
        ("model", pa.string()), ("model_file", pa.string()), ("model_revision", pa.string()),
        ("target", pa.string()), ("seed", pa.int64()), ("settings", pa.string()),
        ("tool_version", pa.string()),
    ]),
    "runs_finished": pa.schema([
        ("run_id", pa.string()), ("finished_at", timestamp), ("journeys", pa.int64()),
        ("shrink_journeys", pa.int64()), ("steps", pa.int64()), ("duration_s", pa.float64()),
        ("failures", pa.int64()), ("exit_code", pa.int32()), ("interrupted", pa.bool_()),
        ("stop_reason", pa.string()),
        # where the exploring journeys went (engine.walk.coverage); null in runs before coverage was kept
        ("edges_taken", pa.int32()), ("edges_total", pa.int32()), ("edge_pairs_taken", pa.int32()),
        ("edge_pairs_total", pa.int32()), ("states_seen", pa.int32()), ("states_total", pa.int32()),
        ("never_ran", pa.list_(pa.string())), ("strategy", pa.string()),
    ]),
    "journeys": pa.schema([
        ("run_id", pa.string()), ("journey", pa.int64()), ("phase", pa.string()),
        ("finished_at", timestamp), ("steps", pa.int32()), ("outcome", pa.string()),
        ("fingerprint", pa.string()), ("duration_ms", pa.float64()),
        ("round", pa.int32()), ("must_walk", pa.string()),  # null in journeys before they were kept
    ]),
    "steps": pa.schema([
        ("run_id", pa.string()), ("journey", pa.int64()), ("phase", pa.string()), ("step", pa.int32()),
        ("finished_at", timestamp), ("actor", pa.string()), ("action", pa.string()),
        ("from_state", pa.string()), ("to_state", pa.string()), ("method", pa.string()),
        ("path_template", pa.string()), ("path", pa.string()), ("status", pa.int32()),
        ("requests", pa.int32()), ("bytes", pa.int64()), ("latency_ms", pa.float64()),
        ("http_ms", pa.float64()), ("outcome", pa.string()), ("failed_check", pa.string()),
        ("error", pa.string()), ("fingerprint", pa.string()),
        ("rate_wait_ms", pa.float64()),  # waiting for --rate before sending; latency_ms leaves it out
    ]),
    "failures_found": pa.schema([
        ("run_id", pa.string()), ("fingerprint", pa.string()), ("found_at", timestamp),
        ("action", pa.string()), ("check_name", pa.string()), ("status_class", pa.string()),
        ("kind", pa.string()), ("message", pa.string()), ("found_in_journey", pa.int64()),
        ("replays_failed", pa.int32()), ("replays_run", pa.int32()), ("steps", pa.int32()),
        ("reproduction", pa.string()), ("seed", pa.int64()), ("tool_version", pa.string()),
        ("replays_inconclusive", pa.int32()), ("minimal", pa.bool_()),
    ]),
    "model_edges": pa.schema([
        ("run_id", pa.string()), ("model", pa.string()), ("action", pa.string()),
        ("source", pa.string()), ("target", pa.string()),
    ]),
    "cleanups": pa.schema([
        ("run_id", pa.string()), ("journey", pa.int64()), ("cleaned_at", timestamp), ("actor", pa.string()),
        ("created_by_step", pa.int32()), ("created_by_action", pa.string()), ("method", pa.string()),
        ("path", pa.string()), ("status", pa.int32()), ("cleaned", pa.bool_()),
        ("requests", pa.int32()),  # 2 when a refused clean-up was sent again with the actor's new session
    ]),
    # Availability incidents: the target was down (confirmed by a probe) and the walk waited.
    # ended_at is NULL when the run ended before the target answered again.
    "incidents": pa.schema([
        ("run_id", pa.string()), ("started_at", timestamp), ("ended_at", timestamp),
        ("duration_s", pa.float64()), ("reason", pa.string()), ("probes", pa.int32()),
        ("journeys_discarded", pa.int32()),
    ]),
    "replays": pa.schema([
        ("run_id", pa.string()), ("fingerprint", pa.string()), ("replayed_at", timestamp),
        ("target", pa.string()), ("times", pa.int32()), ("replays_run", pa.int32()),
        ("replays_failed", pa.int32()), ("verdict", pa.string()), ("setup", pa.bool_()),
    ]),
}

# Views over the tables (which ``reader`` defines first, one per folder).
VIEWS_SQL = [
    """
    CREATE OR REPLACE VIEW runs AS
    SELECT s.*, f.finished_at, f.journeys, f.shrink_journeys, f.steps, f.duration_s, f.failures,
           f.exit_code, f.interrupted, f.stop_reason, f.edges_taken, f.edges_total, f.edge_pairs_taken,
           f.edge_pairs_total, f.states_seen, f.states_total, f.never_ran, f.strategy,
           CASE WHEN f.run_id IS NULL THEN 'incomplete'
                WHEN f.interrupted THEN 'interrupted' ELSE 'finished' END AS status
    FROM runs_started s LEFT JOIN runs_finished f USING (run_id)
    """,
    """
    CREATE OR REPLACE VIEW failures AS
    WITH seen AS (
        SELECT fingerprint, min(finished_at) AS first_seen, max(finished_at) AS last_seen,
               count(*) AS occurrences
        FROM journeys WHERE fingerprint IS NOT NULL AND phase = 'explore'
        GROUP BY fingerprint
    ), latest AS (
        SELECT * FROM failures_found
        QUALIFY row_number() OVER (PARTITION BY fingerprint ORDER BY found_at DESC) = 1
    ), found AS (
        SELECT fingerprint, min(found_at) AS first_found, max(found_at) AS last_found
        FROM failures_found GROUP BY fingerprint
    ), in_runs AS (
        SELECT fingerprint, count(DISTINCT run_id) AS runs FROM (
            SELECT fingerprint, run_id FROM journeys WHERE fingerprint IS NOT NULL AND phase = 'explore'
            UNION SELECT fingerprint, run_id FROM failures_found)
        GROUP BY fingerprint
    )
    SELECT l.fingerprint, l.action, l.check_name, l.status_class, l.kind, l.message,
           least(s.first_seen, f.first_found) AS first_seen,
           greatest(s.last_seen, f.last_found) AS last_seen,
           greatest(coalesce(s.occurrences, 0), 1) AS occurrences, r.runs,
           l.replays_failed, l.replays_run, l.steps, l.reproduction, l.run_id AS last_run_id
    FROM latest l JOIN found f USING (fingerprint) JOIN in_runs r USING (fingerprint)
    LEFT JOIN seen s USING (fingerprint)
    """,
    # Each failure's life across runs: every time it failed (found by a run, hit by an
    # exploring journey, or a replay still failing) and every replay that found it fixed.
    """
    CREATE OR REPLACE VIEW failure_lifecycle AS
    WITH events AS (
        SELECT fingerprint, found_at AS happened_at, run_id, true AS failing FROM failures_found
        UNION ALL
        SELECT fingerprint, finished_at, run_id, true FROM journeys
        WHERE fingerprint IS NOT NULL AND phase = 'explore'
        UNION ALL
        SELECT fingerprint, replayed_at, run_id, verdict <> 'fixed' FROM replays
        WHERE verdict IN ('still failing', 'flaky', 'fixed')
    ), summary AS (
        SELECT fingerprint,
               max(happened_at) FILTER (WHERE failing) AS last_failed,
               max(happened_at) FILTER (WHERE NOT failing) AS last_fixed,
               min(happened_at) FILTER (WHERE NOT failing) AS first_fixed,
               count(DISTINCT run_id) FILTER (WHERE failing) AS failing_runs
        FROM events GROUP BY fingerprint
    )
    SELECT fingerprint, CASE
             WHEN last_fixed IS NOT NULL AND (last_failed IS NULL OR last_fixed > last_failed) THEN 'fixed'
             WHEN first_fixed IS NOT NULL AND last_failed > first_fixed THEN 'regressed'
             WHEN failing_runs > 1 THEN 'recurring'
             ELSE 'new' END AS status,
           last_failed, last_fixed, failing_runs
    FROM summary
    """,
    """
    CREATE OR REPLACE VIEW edge_coverage AS
    WITH hits AS (
        SELECT run_id, action, from_state AS source, count(*) AS hits
        FROM steps WHERE phase = 'explore' GROUP BY ALL
    )
    SELECT e.run_id, e.model, e.action, e.source, e.target, coalesce(h.hits, 0) AS hits
    FROM model_edges e LEFT JOIN hits h USING (run_id, action, source)
    """,
    """
    CREATE OR REPLACE VIEW edge_pair_coverage AS
    WITH walked AS (
        SELECT run_id, action, from_state AS source,
               lag(action) OVER w AS first_action, lag(from_state) OVER w AS first_source
        FROM steps WHERE phase = 'explore'
        WINDOW w AS (PARTITION BY run_id, journey, actor ORDER BY step)
    ), hits AS (
        SELECT run_id, first_action, first_source, action, source, count(*) AS hits
        FROM walked WHERE first_action IS NOT NULL GROUP BY ALL
    )
    SELECT a.run_id, a.model, a.action AS first_action, a.source AS first_source,
           b.action AS second_action, b.source AS second_source, coalesce(h.hits, 0) AS hits
    FROM model_edges a JOIN model_edges b ON a.run_id = b.run_id AND b.source = a.target
    LEFT JOIN hits h ON h.run_id = a.run_id AND h.first_action = a.action AND h.first_source = a.source
                    AND h.action = b.action AND h.source = b.source
    """,
]
