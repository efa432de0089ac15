"""Reading the store: a private DuckDB connection whose views read the Parquet files.

``connect()`` is the one call notebooks and scripts need. The connection is an
in-memory DuckDB database of its own, so it never holds a lock on the store and
never blocks a running session; its views list the files again on every query,
so a notebook left open for hours sees each new flush.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from engine.errors import ConfigError
from engine.store.alert_journal import AlertHistory, read_alert_journal
from engine.store.layout import DEFAULT_STORE, StoreLayout
from engine.store.remote import RemoteStore, is_remote, remote_store
from engine.store.heartbeats import read_heartbeats
from engine.store.schema import TABLES, VIEWS_SQL

__all__ = ["chosen_store", "connect", "store_path", "table_sql"]


def chosen_store(path: str | os.PathLike[str] | None = None) -> str:
    """``path``, else ``$JOURNEYS_STORE``, else ``journeys-store``: a folder or an ``s3://`` URL."""
    return str(path or os.environ.get("JOURNEYS_STORE") or DEFAULT_STORE)


def store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$JOURNEYS_STORE``, else ``journeys-store`` in the working folder: a folder.

    What writes to the store (a run, a replay, a clean-up) needs a folder; a bucket is for readers.
    """
    location = chosen_store(path)
    if is_remote(location):
        raise ConfigError(f"--store {location}: this command writes to the store, which needs a local folder; "
                          "give --store PATH (a run copies its store to a bucket with --mirror URL)")
    return Path(location)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_sql(folder: Path | str) -> str:
    """A query over one table's files that reads each row once (see ``layout``).

    A data file is named ``<run>~<lo>-<hi>.parquet``; files covered by a wider
    file of the same run (merged copies of them exist) are left out.
    """
    pattern = _quote(f"{folder}/*.parquet" if isinstance(folder, str) else str(folder.resolve() / "*.parquet"))
    return f"""
    WITH named AS (
        SELECT file, parse_filename(file, true) AS name FROM glob({pattern})
    ), ranges AS (
        SELECT file, split_part(name, '~', 1) AS run,
               CAST(split_part(split_part(name, '~', 2), '-', 1) AS BIGINT) AS lo,
               CAST(split_part(split_part(name, '~', 2), '-', 2) AS BIGINT) AS hi
        FROM named WHERE contains(name, '~')
    ), covered AS (
        SELECT DISTINCT a.file FROM ranges a JOIN ranges b
          ON a.run = b.run AND b.lo <= a.lo AND b.hi >= a.hi AND (b.lo < a.lo OR b.hi > a.hi)
    ), live AS (
        SELECT file FROM ranges WHERE file NOT IN (SELECT file FROM covered)
    )
    SELECT * EXCLUDE (filename)
    FROM read_parquet({pattern}, filename = true, union_by_name = true)
    WHERE filename IN (SELECT file FROM live)  -- a semi-join: DuckDB then skips the other files
    """


def connect(path: str | os.PathLike[str] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every table and view of the store ready to query.

    Tables: runs_started, runs_finished, journeys, steps, failures_found,
    model_edges, cleanups. Views: runs, failures, edge_coverage. ``path`` may be
    ``s3://bucket/prefix``, where runs copy their stores with ``--mirror`` (see ``remote``).
    """
    if is_remote(chosen_store(path)):
        return _connect_remote(remote_store(chosen_store(path)).require())
    root = store_path(path)
    layout = StoreLayout(root)
    if not layout.is_store():
        raise ConfigError(f"no journeys store at {str(root)!r}; run `journeys explore` first "
                          "or pass --store PATH (or set JOURNEYS_STORE)")
    connection = duckdb.connect(":memory:")
    try:
        _define_views(connection, layout)
    except duckdb.Error as error:
        raise ConfigError(f"cannot read the store at {str(root)!r}: {str(error).splitlines()[0]}") from None
    return connection


def _connect_remote(remote: RemoteStore) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    connection.register_filesystem(remote.fs)  # DuckDB reads the bucket through s3fs (fsspec)
    try:
        _define_views(connection, remote, alerts=remote.alerts())
    except duckdb.Error as error:
        raise ConfigError(f"cannot read the store at {remote.url!r}: {str(error).splitlines()[0]}") from None
    return connection


def _define_views(connection: duckdb.DuckDBPyConnection, layout: StoreLayout | RemoteStore, *,
                  alerts: AlertHistory | None = None) -> None:
    for table, schema in TABLES.items():
        if layout.has_table(table):
            connection.execute(f"CREATE VIEW {table} AS {table_sql(layout.table_dir(table))}")
        else:  # a store made by an older version: the table reads as empty
            connection.register(f"_empty_{table}", schema.empty_table())
            connection.execute(f"CREATE VIEW {table} AS SELECT * FROM _empty_{table}")
    # Alerts live in their journal (JSON lines, flushed per line), read when the store is opened.
    alerts = alerts if alerts is not None else read_alert_journal(layout.root)
    connection.register("_alerts", alerts.as_table())
    connection.execute("CREATE VIEW alerts AS SELECT * FROM _alerts")
    # Each run's latest heartbeat (a JSON file per run, replaced every beat).
    beats = layout.heartbeats() if isinstance(layout, RemoteStore) else read_heartbeats(layout.root)
    connection.register("_heartbeats", beats)
    connection.execute("CREATE VIEW heartbeats AS SELECT * FROM _heartbeats")
    for statement in VIEWS_SQL:
        connection.execute(statement)
