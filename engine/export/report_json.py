"""Subscriber that writes the run's outcome as JSON (``journeys explore --json FILE``).

For CI systems and scripts: the run's settings, counts and every distinct
failure with its minimal steps (secrets masked), written once at the end,
atomically.
"""

from __future__ import annotations

import json
import os
from typing import Any

import attrs

from engine.events import Event, RunFinished, RunStarted
from engine.records import Failure
from engine.redact import redact_data, redact_everywhere, redact_headers

__all__ = ["JsonReport", "failure_as_dict"]


def failure_as_dict(failure: Failure) -> dict[str, Any]:
    data = attrs.asdict(failure, recurse=True)
    data["id"] = failure.id
    data["fingerprint"]["id"] = failure.id
    left_behind = data.get("left_behind") or {}
    for step in [*data["steps"], *left_behind.get("steps", ())]:
        step["data"] = redact_data(step["data"])
        for request in step["requests"]:
            request["headers"] = redact_headers(request["headers"])
            request["json"] = redact_data(request["json"])
            request["response_json"] = redact_data(request["response_json"])
    return redact_everywhere(data)


class JsonReport:
    def __init__(self, path: str) -> None:
        self.path = path
        self.started: RunStarted | None = None

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, RunFinished):
            self._write(event)

    def _write(self, finished: RunFinished) -> None:
        started = self.started
        report = {
            "run_id": finished.run_id,
            "model": started.model if started else None,
            "target": started.target if started else None,
            "seed": started.seed if started else None,
            "settings": started.settings if started else None,
            "tool_version": started.tool_version if started else None,
            "journeys": finished.journeys,
            "shrink_journeys": finished.shrink_journeys,
            "steps": finished.steps,
            "duration_s": finished.duration_s,
            "interrupted": finished.interrupted,
            "stop_reason": finished.stop_reason,
            "exit_code": finished.exit_code,
            "failures": [failure_as_dict(f) for f in finished.failures],
            "known_met": list(finished.known_met),  # fingerprints known before (the store, other runs) met again
            "regressed": list(finished.regressed),  # known failures a re-check found failing again after a fix
            "coverage": finished.coverage.as_dict() if finished.coverage is not None else None,
            "incidents": [{"started_at": o.started_at, "ended_at": o.ended_at, "duration_s": o.duration_s,
                           "reason": o.reason, "probes": o.probes} for o in finished.outages],
        }
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(report, handle, ensure_ascii=False, indent=2, default=str)
        os.replace(temporary, self.path)
