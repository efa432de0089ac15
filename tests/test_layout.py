"""The engine's layout is its pipeline, and its modules stay small enough to read."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
PIPELINE = {"model", "walk", "http", "failures", "export", "store", "alerts", "cli"}


def test_no_module_of_the_engine_or_the_demo_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): lines
            for folder in ("engine", "demo_shop") for path in (ROOT / folder).rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_the_engine_folders_are_the_pipeline_and_the_demo_is_beside_it():
    folders = {path.name for path in (ROOT / "engine").iterdir()
               if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == PIPELINE
    assert (ROOT / "demo_shop" / "app.py").exists() and not (ROOT / "engine" / "demo").exists()
    loose = sorted(path.name for path in (ROOT / "engine").glob("*.py"))
    # Only what every stage shares stays at the top: events, records, errors, secrets' masking.
    assert loose == ["__init__.py", "errors.py", "events.py", "records.py", "redact.py"]
