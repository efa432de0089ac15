"""What an alert says, whatever sink it goes to: one plain dict, built from the engine's events.

Every alert has a ``key`` (a failure's fingerprint, or an incident's id: PagerDuty's
``dedup_key``), an ``action`` (``trigger`` or ``resolve``), a ``kind`` (the failure's kind:
``regression``, ``intermittent``, ``content-change``, ``left-behind``...; ``regressed`` for a fixed
failure failing again; ``outage``; ``test``), a ``severity`` and a one-line ``summary``. A failure's
alert also carries its minimal steps (masked as the store has them), where it was first seen,
the model, the target, and the commands that replay and export it. Nothing here holds a secret:
the steps are the JSON report's, with passwords, tokens and other people's data masked.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from engine.export.report_json import failure_as_dict
from engine.records import Failure

__all__ = ["failure_alert", "regressed_alert", "resolve_alert", "outage_alert", "test_alert", "SEVERITY"]

SEVERITY = {  # PagerDuty's four: critical, error, warning, info
    "regression": "error", "regressed": "error", "left-behind": "error", "suspected-left-behind": "warning",
    "intermittent": "warning", "inconclusive": "warning", "content-change": "info", "outage": "critical",
    "test": "info",
}
MAX_STEP_LINES = 40


def _base(key: str, action: str, kind: str, summary: str, **details: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:16], "key": key, "action": action, "kind": kind,
            "severity": SEVERITY.get(kind, "error"), "summary": summary, "created_at": time.time(), **details}


def _steps(data: dict[str, Any]) -> list[str]:
    lines = []
    for number, step in enumerate(data["steps"], 1):
        lines.append(f"{number}. {step['actor']} {step['action']} {json.dumps(step['data'], ensure_ascii=False)}")
        for request in step["requests"]:
            lines.append(f"   {request['method']} {request['path']} -> {request['status']}")
    failed = next((c for c in data["steps"][-1]["checks"] if not c["passed"]), None) if data["steps"] else None
    if failed is not None:
        lines.append(f"   x {failed['message']}")
    return lines[:MAX_STEP_LINES]


def _commands(failure_id: str, store: str) -> dict[str, str]:
    where = f" --store {store}" if store else ""
    return {"replay": f"journeys replay {failure_id} --target <URL>{where}",
            "export": f"journeys export {failure_id} --format pytest{where}",
            "show": f"journeys show {failure_id}{where}"}


def failure_alert(failure: Failure, *, model: str, target: str, store: str, run_id: str,
                  kind: str | None = None, first_seen: float | None = None, occurrences: int = 1) -> dict[str, Any]:
    data = failure_as_dict(failure)
    fingerprint = failure.fingerprint
    kind = kind or failure.kind
    summary = (f"journeys: {'regressed' if kind == 'regressed' else kind} in {model}: {fingerprint.action}: "
               f"{data['fingerprint']['check']} ({fingerprint.status})")
    return _base(failure.id, "trigger", kind, summary, failure_id=failure.id, action_name=fingerprint.action,
                 check=data["fingerprint"]["check"], status_class=fingerprint.status, failure_kind=failure.kind,
                 message=data["message"], steps=_steps(data), model=model, target=target, run_id=run_id,
                 first_seen=first_seen or time.time(), occurrences=occurrences,
                 commands=_commands(failure.id, store))


def regressed_alert(fingerprint: str, summary: str, how: str, *, model: str, target: str, store: str,
                    run_id: str, failure: Failure | None = None) -> dict[str, Any]:
    if failure is not None:
        alert = failure_alert(failure, model=model, target=target, store=store, run_id=run_id, kind="regressed")
        alert["how"] = how
        return alert
    return _base(fingerprint, "trigger", "regressed", f"journeys: regressed in {model}: {summary}",
                 failure_id=fingerprint, how=how, model=model, target=target, run_id=run_id,
                 commands=_commands(fingerprint, store))


def resolve_alert(key: str, summary: str, *, model: str, target: str, run_id: str, kind: str) -> dict[str, Any]:
    return _base(key, "resolve", kind, summary, model=model, target=target, run_id=run_id)


def outage_alert(key: str, action: str, *, reason: str, started_at: float, model: str, target: str,
                 run_id: str, ended_at: float | None = None) -> dict[str, Any]:
    if action == "trigger":
        summary = f"journeys: {target} is not answering ({reason}) since {time.strftime('%H:%M:%S', time.gmtime(started_at))} UTC"
    else:
        summary = f"journeys: {target} answers again after {((ended_at or time.time()) - started_at):.0f}s"
    return _base(key, action, "outage", summary, reason=reason, started_at=started_at, ended_at=ended_at,
                 model=model, target=target, run_id=run_id)


def test_alert(sink: str) -> dict[str, Any]:
    return _base(f"journeys-test-{uuid.uuid4().hex[:8]}", "trigger", "test",
                 f"journeys: test alert for the {sink} sink (nothing is wrong)", model="", target="", run_id="")
