"""The DuckDB store: every outcome of every run, as Parquet segments with DuckDB views.

Write with ``StoreWriter`` (an event subscriber); read with ``connect()``.
"""

from engine.store.layout import DEFAULT_STORE, StoreLayout
from engine.store.reader import connect, store_path
from engine.store.writer import StoreWriter

__all__ = ["DEFAULT_STORE", "StoreLayout", "StoreWriter", "connect", "store_path"]
