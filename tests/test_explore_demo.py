"""The main job: explore the demo with the demo model, find and shrink its seeded bugs.

One real exploration (the CLI, in a subprocess, fixed seed, default budget) is
shared by the tests of this module. The seeded bugs and their known minimal
reproductions:

- a deleted account can still log in: sign_up, delete_account, log_in_to_deleted_account (3 steps)
- a coupon survives an item's removal and the total goes negative:
  sign_up, add_to_cart, apply_coupon, remove_from_cart (4 steps)
- the recent-reviews widget breaks on text outside Latin-1:
  sign_up, post_review, read_recent_reviews (3 steps), text shrunk to "Ā" (U+0100)
- any signed-in user can read another user's order: sign_up, add_to_cart, checkout
  (first customer), sign_up, view_order (second customer) (5 steps)
- the payment provider answers 503 now and then: intermittent, never a regression
- the catalogue's delivery note was edited to the wrong threshold: a content change (1 step)
- a deleted account's reviews stay, still listed under their product:
  sign_up, post_review, delete_account, read_product_reviews (4 steps). With the Latin-1 bug,
  such a review (its clean-up fails: the account is gone) breaks every later read of the recent reviews. Whichever the walk meets first names
  the review bug: a regression (the 3 steps above) or left-behind state, which the shop
  model's reset lets the engine confirm, traced to the post_review that left the review.
"""

from __future__ import annotations

import json
import shutil

import pytest
import subprocess
import sys
from pathlib import Path

from engine.store import connect

from .conftest import EXPLORATION_SEED, ROOT, run_journeys

SEED = EXPLORATION_SEED
EXPECTED = {
    "log_in_to_deleted_account": ["sign_up", "delete_account", "log_in_to_deleted_account"],
    "remove_from_cart": ["sign_up", "add_to_cart", "apply_coupon", "remove_from_cart"],
    "read_recent_reviews": ["sign_up", "post_review", "read_recent_reviews"],
    "view_order": ["sign_up", "add_to_cart", "checkout", "sign_up", "view_order"],
    "read_product_reviews": ["sign_up", "post_review", "delete_account", "read_product_reviews"],
}


def deterministic(report):
    return {f["fingerprint"]["action"]: f for f in report["failures"] if f["kind"] == "regression"}


def review_bug(report):
    """The review bug's failure and its post_review step, whichever way it was met."""
    for failure in report["failures"]:
        if failure["fingerprint"]["action"] != "read_recent_reviews":
            continue
        if failure["kind"] == "regression":
            (review,) = [s for s in failure["steps"] if s["action"] == "post_review"]
            return failure, review
        if failure["kind"] == "left-behind":
            left = failure["left_behind"]
            assert left["confirmed"] and [s["action"] for s in failure["steps"]] == ["read_recent_reviews"], left
            return failure, left["steps"][left["step"]]
    raise AssertionError(f"the review bug was not found: {[f['fingerprint'] for f in report['failures']]}")


def check_bugs_found_and_minimal(report):
    """Every seeded deterministic bug is found; where the engine claims a minimal path, it is.

    Journeys go on past a known failure, so the coupon bug's negative total can show
    again on a later step (adding to or viewing that cart): another fingerprint, with
    the coupon in its path. Nothing else may be reported as a regression.
    """
    found = deterministic(report)
    failure, review = review_bug(report)
    expected = {action: steps for action, steps in EXPECTED.items()
                if action != "read_recent_reviews" or failure["kind"] == "regression"}
    assert set(expected) <= set(found), [f["fingerprint"] for f in report["failures"]]
    for action, failure in found.items():
        walked = [s["action"] for s in failure["steps"]]
        if action not in expected:
            assert "apply_coupon" in walked and "money amounts are never negative" in failure["message"] \
                or "expected total >= 0" in failure["message"], (action, walked, failure["message"])
            continue
        steps = expected[action]
        assert walked[-1] == action and failure["replays_failed"] == failure["replays_run"] == 5
        if failure["minimal"]:
            # The two customers' steps may interleave; the minimal set of steps may not differ.
            assert sorted(walked) == sorted(steps), (action, walked)
        else:
            # The budget ran out first. A data-dependent bug met late in a long journey (the coupon's
            # minimum spend, in a cart changed twenty times) can keep about twice its minimal steps;
            # the engine says so ("not proven minimal"). Seed 7 of the main exploration does this.
            assert len(steps) <= len(walked) <= 2 * len(steps) + 1, (action, walked)
            assert any("not proven minimal" in note for note in failure["notes"]), failure["notes"]
    assert any(ord(ch) > 255 for ch in review["data"]["text"]), review["data"]  # outside Latin-1
    copy = [f for f in report["failures"] if f["fingerprint"]["action"] == "browse_catalogue"]
    assert [(f["kind"], len(f["steps"])) for f in copy] == [("content-change", 1)], copy
    for failure in report["failures"]:
        assert failure["kind"] != "intermittent" or failure["fingerprint"]["action"] == "checkout", failure


def test_exit_code_and_summary(exploration):
    _, result, report = exploration
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "distinct failure(s)" in result.stdout
    assert report["exit_code"] == 1
    assert report["seed"] == int(SEED)


def test_every_deterministic_bug_is_found_and_minimal(exploration):
    _, _, report = exploration
    check_bugs_found_and_minimal(report)
    assert sum(f["minimal"] for f in deterministic(report).values()) >= 3  # the budget is rarely the limit


@pytest.mark.parametrize("seed", ["1", "2", "3"])
def test_other_seeds_find_every_bug_too(tmp_path, seed):
    """Not one tuned seed: the default first command's properties hold on others."""
    result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--seed", seed,
                          "--no-examples-db", "--json", "report.json", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    check_bugs_found_and_minimal(json.loads((tmp_path / "report.json").read_text(encoding="utf-8")))


def test_authorisation_bug_needs_two_customers(exploration):
    _, _, report = exploration
    steps = deterministic(report)["view_order"]["steps"]
    (checkout,) = [s for s in steps if s["action"] == "checkout"]
    viewer = steps[-1]["actor"]
    assert checkout["actor"] != viewer
    assert steps[-1]["data"]["order"]["owner"] == checkout["actor"]


def test_data_dependent_bug_shrinks_to_one_character_outside_latin1_from_the_strategy(exploration):
    _, _, report = exploration
    failure, review = review_bug(report)
    if failure["kind"] == "regression":  # a left-behind setup keeps its data as the journey drew it
        assert len(review["data"]["text"]) == 1 and ord(review["data"]["text"]) > 255
    steps = failure["steps"] if failure["kind"] == "regression" else failure["left_behind"]["steps"]
    for sign_up in [s for s in steps if s["action"] == "sign_up"]:
        # Simplified data stays inside what strategies.emails() draws: the reserved example domains.
        assert sign_up["data"]["email"].rpartition("@")[2] in ("example.com", "example.org", "example.net")


def test_intermittent_503_is_never_a_regression(exploration):
    _, _, report = exploration
    for failure in report["failures"]:
        if failure["fingerprint"]["status"] == "5xx" and failure["fingerprint"]["action"] == "checkout":
            assert failure["kind"] == "intermittent"
            assert failure["replays_failed"] < failure["replays_run"]


def test_summary_shows_numbered_steps_with_requests(exploration):
    _, result, report = exploration
    out = result.stdout
    assert "1. " in out and "POST /api/signup" in out
    assert "a deleted account cannot log in: expected status 401, got 200" in out
    password = deterministic(report)["log_in_to_deleted_account"]["steps"][0]["data"]["password"]
    assert password == "***"


def test_reproductions_fail_on_the_buggy_demo_and_pass_on_the_fixed_one(exploration, demo_with_bugs,
                                                                          demo_fixed):
    workdir, _, report = exploration
    files = sorted((workdir / "reproductions").glob("test_*.py"))
    # A file only for a failure whose exported form the engine walked and saw fail at the marked step.
    walked = [f for f in report["failures"] if f["export_check"] == "reproduced"]
    assert sorted(f.stem.rpartition("_")[2] for f in files) == sorted(f["id"] for f in walked)
    for action, failure in deterministic(report).items():
        if action not in EXPECTED:  # the coupon bug met again later: see check_bugs_found_and_minimal
            continue
        assert failure["export_check"] == "reproduced", (action, failure["export_check"])
        (path,) = [f for f in files if failure["id"] in f.name]
        source = path.read_text(encoding="utf-8")
        assert "import engine" not in source and "from engine" not in source
        assert "'password': secret('JOURNEYS_SECRET_PASSWORD')" in source and "tok_" not in source  # no secret
        against_bugs = run_pytest(path, demo_with_bugs.url)
        assert against_bugs.returncode == 1, (path.name, against_bugs.stdout[-2000:])
        against_fixed = run_pytest(path, demo_fixed.url)
        assert against_fixed.returncode == 0, (path.name, against_fixed.stdout[-2000:])


def run_pytest(path: Path, target: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=path.parent,
                          env={"JOURNEYS_TARGET": target, "PATH": "/usr/bin:/bin"})


def test_the_next_run_tries_known_failures_first(exploration, tmp_path):
    """The example database in the working folder makes a repeat run try the failures it keeps first.

    Each round keeps the example it failed on, and the same round of the next run replays it before
    generating anything: every deterministic bug the first run found is found again, and found by
    the first exploring journey of a round (its replayed example), not by the walk happening on it
    later. One may be found later: a kept example can owe its path to an answer the target does not
    give again (the demo's checkout 503 kept an actor at its cart, where the coupon bug was met), and
    then the round walks on. Rounds end at each new failure, so the journey numbers of the two runs
    are not compared.
    """
    workdir, _, first = exploration
    shutil.copytree(workdir / ".journeys", tmp_path / ".journeys")
    result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--seed", SEED,
                          "--json", "again.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    second = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    before, after = deterministic(first), deterministic(second)
    # The review bug is met as a regression or as left-behind state, whichever the walk meets first:
    # compared only when both runs met it as the regression.
    compared = [action for action in EXPECTED if action != "read_recent_reviews"
                or review_bug(first)[0]["kind"] == review_bug(second)[0]["kind"] == "regression"]
    assert set(compared) <= set(before) and set(compared) <= set(after)
    store = connect(tmp_path / "journeys-store")
    try:
        journeys = store.execute("SELECT journey, round, phase, must_walk FROM journeys WHERE run_id = ?",
                                 [second["run_id"]]).fetchall()
    finally:
        store.close()
    round_of = {journey: number for journey, number, _, _ in journeys}
    first_of_round = {}
    for journey, number, phase, must_walk in sorted(journeys):
        if phase == "explore" and must_walk is None:
            first_of_round.setdefault(number, journey)
    replayed = []
    for action in compared:
        failure = after[action]
        assert len(failure["steps"]) >= len(EXPECTED[action])
        found_in = failure["found_in_journey"]
        if first_of_round[round_of[found_in]] == found_in:
            replayed.append(action)
    assert len(replayed) >= len(compared) - 1, (compared, replayed)
