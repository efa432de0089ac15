"""A copy change is its own kind: a text check failed on a response that was fine.

The demo's opt-in `delivery_note_copy` bug edits the catalogue's delivery note
(€50 instead of €30); the model checks the copy with `step.expect_text`.
"""

from __future__ import annotations

import json

from demo_shop import DemoShop, start_in_thread

from .conftest import ROOT, run_journeys


def test_a_changed_delivery_note_is_a_content_change(tmp_path):
    url, stop = start_in_thread(DemoShop(bugs=("delivery_note_copy",), seed=0))
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", "1",
                              "--journeys", "10", "--max-steps", "5", "--no-examples-db", "--json", "report.json", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    failures = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["failures"]
    assert [(f["fingerprint"]["action"], f["kind"]) for f in failures] == [("browse_catalogue", "content-change")]
    (failure,) = failures
    assert [s["action"] for s in failure["steps"]] == ["browse_catalogue"]
    assert failure["replays_failed"] == failure["replays_run"] == 5
    assert "over €50" in failure["message"] and failure["fingerprint"]["status"] == "2xx"
    exported = (tmp_path / "reproductions" / f"test_browse_catalogue_{failure['id']}.py").read_text(encoding="utf-8")
    assert "assert 'over €30' in r1.json()['delivery_note']" in exported
    listed = run_journeys("failures", "--kind", "content-change", cwd=tmp_path)
    assert failure["id"] in listed.stdout
