"""The ``journeys`` command: flags and project settings in, a run's subscribers wired up, exit codes out."""

import os

# Arrow's C++ code (Parquet, casts) allocates from a pool of its own (mimalloc in these wheels),
# whose pages a days-long run's trims never give back; the C library's allocator instead. Read
# once, when pyarrow loads, so it is set before anything imports it (engine.walk.heap).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from engine.cli.main import main  # noqa: E402

__all__ = ["main"]
