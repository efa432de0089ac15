"""Left-behind state an earlier run left: traced through the store's clean-up ledger to that run's step.

A first run (no reset) leaves data on a served target that breaks an action for
everyone. A second run on the same target and store meets that action failing
from its first call: nothing in its own walk created the data. It must say
*suspected* left-behind state and name the earlier run's step from the ledger
(run, journey, step, actor, action, the clean-up still owed), on the demo shop
and on the library.
"""

from __future__ import annotations

import json

import httpx

from demo_shop import DemoShop, start_in_thread
from engine.store.ledger import read_ledger

from .conftest import ROOT, run_journeys
from .library_app import Library

SHOP_BUGS = ("recent_reviews_encoding", "reviews_outlive_account")


def explore(workdir, model, url, seed):
    result = run_journeys("explore", str(model), "--target", url, "--seed", str(seed), "--journeys", "40",
                          "--max-steps", "10", "--no-examples-db", "--no-reset", "--store", "store",
                          "--json", f"run{seed}.json", cwd=workdir)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return json.loads((workdir / f"run{seed}.json").read_text(encoding="utf-8")), result.stdout


def failing_on(report, action):
    return [f for f in report["failures"] if f["fingerprint"]["action"] == action]


def second_run_traces_the_first(tmp_path, model, target, broken, action):
    """Runs on seeds 1, 2, ... until one leaves ``broken()`` true on the target, then one more run: the
    failure of ``action`` it meets must be traced to a step of the run that left the data."""
    url, stop = start_in_thread(target)
    try:
        for seed in range(1, 7):
            first, _ = explore(tmp_path, model, url, seed)
            if broken(url):
                break
        else:
            raise AssertionError("no run left the target broken; the test has nothing to trace")
        second, output = explore(tmp_path, model, url, seed + 100)
    finally:
        stop()
    found = failing_on(second, action)
    assert len(found) == 1, [f["fingerprint"] for f in second["failures"]]
    failure = found[0]
    left = failure["left_behind"]
    assert failure["kind"] == "suspected-left-behind", failure["kind"]
    assert left["run_id"] != second["run_id"] and left["steps"] == []
    runs = {json.loads((tmp_path / f"run{s}.json").read_text(encoding="utf-8"))["run_id"] for s in range(1, seed + 1)}
    assert left["run_id"] in runs  # one of the earlier runs on this target
    entry = next(e for e in read_ledger(tmp_path / "store").entries.values()
                 if e.run_id == left["run_id"] and e.journey == left["journey"] and e.step == left["step"])
    assert (entry.actor, entry.action) == (left["actor"], left["action"])
    assert left["created_by"] == f"{entry.method} {entry.path}"
    assert "an earlier run" in output and left["run_id"] in output
    show = run_journeys("show", failure["id"], "--store", "store", cwd=tmp_path)
    assert show.returncode == 0 and "an earlier run" in show.stdout and left["run_id"] in show.stdout
    return left, entry, url


def test_a_review_an_earlier_run_left_is_traced_to_its_post_review(tmp_path):
    def recent_reviews_broken(url):
        return httpx.get(f"{url}/api/reviews/recent").status_code == 500

    shop = DemoShop(bugs=SHOP_BUGS, seed=0)
    left, entry, _ = second_run_traces_the_first(tmp_path, ROOT / "models" / "shop.py", shop, recent_reviews_broken,
                                                 "read_recent_reviews")
    assert left["action"] == "post_review" and entry.method == "DELETE"
    # The review named is one the shop still holds, and one the widget cannot encode.
    review_id = entry.path.rsplit("/", 1)[1]
    texts = {review["id"]: review["text"] for product in ("prd_bag", "prd_mug", "prd_tee", "prd_cap", "prd_pen")
             for review in shop_reviews(shop, product)}
    assert review_id in texts and any(ord(ch) > 255 for ch in texts[review_id]), texts.get(review_id)


def shop_reviews(shop, product):
    url, stop = start_in_thread(shop)
    try:
        return httpx.get(f"{url}/api/products/{product}/reviews").json()["reviews"]
    finally:
        stop()


def test_a_loan_an_earlier_run_left_on_the_library_is_traced_to_that_run(tmp_path):
    def board_broken(url):
        token = httpx.post(f"{url}/api/members", json={"name": "observer"}).json()["token"]
        return httpx.get(f"{url}/api/board", headers={"Authorization": f"Bearer {token}"}).status_code >= 500

    left, entry, _ = second_run_traces_the_first(tmp_path, ROOT / "tests" / "library_model.py",
                                                 Library(bugs=("orphan_loans",)), board_broken, "view_board")
    # The library model registers clean-ups for books only: the ledger can name the step that shelved
    # the book; where every such clean-up answered 204, the evidence says the data is something no
    # clean-up covers (the loan).
    assert left["action"] == "shelve_book" and entry.method == "DELETE"
    assert ("still open" in left["evidence"]) == (entry.state == "open")
    assert entry.state == "open" or "no clean-up covers" in left["evidence"]


def test_a_change_deployed_between_runs_is_not_blamed_on_an_earlier_runs_data(tmp_path):
    """A first run on a fixed build leaves data (refused clean-ups); then a copy edit is deployed on the same
    address. The second run meets the catalogue failing from its first call on a path that creates nothing,
    but no earlier run met that failure: it is a content change, not left-behind state."""
    model = ROOT / "models" / "shop.py"
    fixed = DemoShop(bugs=("reviews_outlive_account",), seed=0)  # reviews stay: clean-ups refused, entries open
    url, stop = start_in_thread(fixed)
    port = int(url.rsplit(":", 1)[1])
    try:
        first, _ = explore(tmp_path, model, url, 1)
    finally:
        stop()
    assert not failing_on(first, "browse_catalogue")
    assert any(e.state == "open" for e in read_ledger(tmp_path / "store").entries.values())  # data was left
    url, stop = start_in_thread(DemoShop(bugs=("delivery_note_copy",), seed=0), port=port)  # the deploy
    try:
        second, _ = explore(tmp_path, model, url, 2)
    finally:
        stop()
    found = failing_on(second, "browse_catalogue")
    assert len(found) == 1 and found[0]["kind"] == "content-change", [(f["kind"], f["left_behind"]) for f in found]
