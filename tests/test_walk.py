"""The walk itself: any number of actions can be chosen, weights are honoured, a step costs
the same in a big model, a seed walked again draws its data once, data that cannot be drawn is
said, subscribers fail loudly, and the shrink budget holds.

Generated models walk the in-process demo (its /healthz answers anything); the
shrink budget is counted on the server's side of a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from hypothesis import Phase, given, settings, strategies as st

from engine import Model
from demo_shop import DemoShop, start_in_thread
from engine.errors import SubscriberError
from engine.events import EventBus, StepFinished
from engine.walk.explorer import ExploreSettings, Explorer
from engine.walk.machine import DrawnData
from engine.http.client import open_target

from .conftest import ROOT, Notices, run_journeys


def wide_model(actions: int, *, heavy: int = 0) -> Model:
    """``actions`` self-loop actions on one state; the first ``heavy`` have weight 3."""
    model = Model("wide", states=["here"], start="here")
    for number in range(actions):
        def ping(step):
            step.expect_status(step.get("/healthz"), 200)
        model.action(source="here", target=None, name=f"a{number:03d}",
                     weight=3 if number < heavy else 1)(ping)
    return model


class StepCounter:
    def __init__(self) -> None:
        self.actions: Counter[str] = Counter()
        self.per_journey: Counter[int] = Counter()

    def handle(self, event) -> None:
        if isinstance(event, StepFinished) and event.phase == "explore":
            self.actions[event.step.action] += 1
            self.per_journey[event.journey] += 1


def walk(model: Model, *, journeys: int, max_steps: int, seed: int, also=()) -> StepCounter:
    """The steps of a walk on the in-process demo; ``also``: more subscribers."""
    counter = StepCounter()
    target = open_target("demo", seed=seed)
    try:
        Explorer(model, target, EventBus([counter, *also]), ExploreSettings(
            journeys=journeys, max_steps=max_steps, seed=seed, database=None)).run()
    finally:
        target.close()
    return counter


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_one_of_300_actions_runs_within_a_bounded_number_of_steps(seed):
    counter = walk(wide_model(300), journeys=100, max_steps=50, seed=seed)  # 5,000 steps
    # Hypothesis sometimes explores a journey that stops early (its "stop here" draw); most run full.
    assert sum(counter.actions.values()) >= 4500
    # Hypothesis builds journeys by mutating earlier ones (shared prefixes walk alike), so counts
    # spread wider than independent draws would: an action may, rarely, not run in 5,000 steps.
    never = [f"a{n:03d}" for n in range(300) if counter.actions[f"a{n:03d}"] == 0]
    assert len(never) <= 3, never
    # What once never ran at all (an action past index 255) gets its share like the rest.
    late = sum(counter.actions[f"a{n:03d}"] for n in range(256, 300))
    assert late >= 0.6 * 5000 * 44 / 300, late
    # No action dominates: the one chosen most often is far from taking a quarter of the steps.
    assert max(counter.actions.values()) < 5000 * 0.02, counter.actions.most_common(3)


def test_weights_are_honoured():
    """10 actions, the first 5 of weight 3: they take 3/4 of the steps (a generous bound).

    Over three walks: one Hypothesis search builds journeys by mutating earlier ones, so journeys
    sharing a prefix walk alike and one walk's counts spread wide (in 10,000 steps an action was
    seen up to 26% off its share, 8% in another walk). Three walks together came within 7-9%.
    """
    actions: Counter[str] = Counter()
    for seed in (11, 12, 13):
        actions.update(walk(wide_model(10, heavy=5), journeys=200, max_steps=50, seed=seed).actions)
    total = sum(actions.values())
    assert total >= 0.95 * 30_000
    share = sum(actions[f"a{n:03d}"] for n in range(5)) / total
    assert 0.72 <= share <= 0.78, share
    for n in range(10):  # each action within 15% of its expected share
        expected = (3 if n < 5 else 1) / 20
        assert abs(actions[f"a{n:03d}"] / total - expected) < expected * 0.15, (n, actions)


def test_journeys_reach_max_steps_in_a_big_model():
    counter = walk(wide_model(200), journeys=10, max_steps=100, seed=5)
    lengths = list(counter.per_journey.values())
    assert max(lengths) == 100 and sum(n == 100 for n in lengths) >= 0.8 * len(lengths), lengths


class Exploding:
    def handle(self, event) -> None:
        if isinstance(event, StepFinished):
            raise OSError("disk full")


def test_a_seed_drawn_again_takes_its_data_without_drawing_and_nested_data_is_not_shared():
    draws = Counter()

    def counted(value):
        draws["n"] += 1
        return value

    strategy = st.fixed_dictionaries({"n": st.integers(0, 10**6).map(counted), "tags": st.lists(st.text(), max_size=3)})
    drawn = DrawnData({"tag_things": strategy}, kept=2)
    seen = {}

    @settings(max_examples=1, database=None, phases=[Phase.generate], deadline=None)
    @given(st.data())
    def draw(data):
        first = drawn.get("tag_things", 12345)
        first["tags"].append("changed by the model")
        again = drawn.get("tag_things", 12345)
        seen.update(first=first, again=again, other=drawn.get("tag_things", 54321),
                    plain=drawn.get("no_data", 12345))
        drawn.get("tag_things", 1), drawn.get("tag_things", 2)  # 12345 is forgotten: only 2 kept
        seen["after"] = drawn.get("tag_things", 12345)

    draw()
    assert seen["again"]["n"] == seen["first"]["n"] and "changed by the model" not in seen["again"]["tags"]
    assert seen["plain"] == {}
    assert sum(draws.values()) == 5  # 12345, 54321, 1, 2, and 12345 again once forgotten; not its repeat


def test_an_action_whose_data_is_always_rejected_is_said_once_and_never_runs():
    model = wide_model(3)

    def never(step, n):
        step.get("/healthz")
    model.action(source="here", target=None, name="picky", data={"n": st.integers().filter(lambda n: False)})(never)
    notices = Notices()
    counter = walk(model, journeys=10, max_steps=10, seed=1, also=[notices])
    said = [message for message in notices.messages if "'picky'" in message]
    assert len(said) == 1 and "filter" in said[0], notices.messages
    assert counter.actions["picky"] == 0 and sum(counter.actions.values()) > 0


def test_a_subscriber_that_raises_stops_the_run():
    target = open_target("demo")
    try:
        with pytest.raises(SubscriberError, match="Exploding failed on StepFinished: OSError: disk full"):
            Explorer(wide_model(3), target, EventBus([Exploding()]),
                     ExploreSettings(journeys=5, max_steps=5, seed=1, database=None)).run()
    finally:
        target.close()


def test_a_report_that_cannot_be_written_exits_2_with_one_line(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--seed", "1",
                          "--journeys", "3", "--no-store", "--no-examples-db",
                          "--json", str(tmp_path / "blocker" / "report.json"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "JsonReport failed" in result.stderr and "Traceback" not in result.stderr


class Counting:
    """WSGI middleware: the requests the server really received."""

    def __init__(self, app) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_shrink_budget_holds_on_the_server_side(tmp_path, seed):
    """One deterministic bug, found in the first journeys: what shrinking sent stays within the budget."""
    app = Counting(DemoShop(bugs=("login_after_deletion",), seed=0))
    url, stop = start_in_thread(app)
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", str(seed),
                              "--journeys", "60", "--shrink-budget", "60", "--no-examples-db",
                              "--json", "report.json", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    (failure,) = report["failures"]
    from engine.store import connect
    store = connect(tmp_path / "journeys-store")
    by_phase = dict(store.execute("SELECT phase, sum(requests) FROM steps GROUP BY phase").fetchall())
    cleanups = store.execute("SELECT sum(requests) FROM cleanups").fetchone()[0]
    # Every request the server saw is accounted for by the store (steps and clean-ups)...
    assert app.count == sum(by_phase.values()) + cleanups + 1  # + the pre-flight GET /
    # ...and shrinking stayed within its budget, give or take the one replay that crossed it.
    longest = store.execute("SELECT max(steps) FROM journeys WHERE phase = 'shrink'").fetchone()[0] or 0
    assert by_phase.get("shrink", 0) <= 60 + 4 * longest
    assert [s["action"] for s in failure["steps"]] == ["sign_up", "delete_account", "log_in_to_deleted_account"]


def alternating_app():
    """A tiny WSGI target whose /check answers 200, 418, 200, 409, 200, 418...: two bugs, in turn."""
    calls = {"n": 0}

    def app(environ, start_response):
        calls["n"] += 1
        status = "200 OK" if calls["n"] % 2 else ("418 I'm a teapot" if calls["n"] % 4 == 2 else "409 Conflict")
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]
    return app


def test_a_failure_met_while_shrinking_another_is_reported_too():
    import httpx
    from engine.http.client import Target

    model = Model("alternating", states=["here"], start="here")

    @model.action(source="here", target=None)
    def check(step):
        r = step.get("/check")
        step.expect(r.status_code != 418, "not a teapot", response=r)
        step.expect(r.status_code != 409, "no conflict", response=r)

    client = httpx.Client(transport=httpx.WSGITransport(app=alternating_app()), base_url="http://alternating.invalid")
    target = Target(client=client, label="alternating (in-process)", base_url="http://alternating.invalid",
                    in_process=True)
    try:
        finished = Explorer(model, target, EventBus([]), ExploreSettings(
            journeys=1, max_steps=2, seed=1, database=None, replays=2)).run()
    finally:
        target.close()
    checks = sorted(f.fingerprint.check for f in finished.failures)
    assert checks == ["no conflict", "not a teapot"], [str(f.fingerprint) for f in finished.failures]
    assert finished.journeys == 1  # the second was never met by an exploring journey


def test_a_withdrawn_cleanup_is_not_sent():
    """``handle = step.cleanup(...)``; a later step's ``handle.cancel()`` withdraws it."""
    from engine.events import CleanupFinished

    model = Model("cleanups", states=["out", "in"], start="out")

    @model.action(source="out", target="in")
    def make(step):
        step.expect_status(step.get("/healthz"), 200)
        step.me["handle"] = step.cleanup("DELETE", "/api/reviews/{review_id}", review_id="rev_made")

    @model.action(source="in", target="out")
    def unmake(step):
        step.expect_status(step.get("/healthz"), 200)
        step.me.pop("handle").cancel()

    class Cleanups:
        def __init__(self):
            self.paths = []

        def handle(self, event):
            if isinstance(event, CleanupFinished):
                self.paths.append(event.path)

    seen, steps = Cleanups(), StepCounter()
    target = open_target("demo")
    try:
        Explorer(model, target, EventBus([seen, steps]),
                 ExploreSettings(journeys=20, max_steps=3, seed=4, database=None)).run()
    finally:
        target.close()
    makes, unmakes = steps.actions["make"], steps.actions["unmake"]
    assert makes > unmakes > 0
    assert len(seen.paths) == makes - unmakes and set(seen.paths) == {"/api/reviews/rev_made"}


def _import_probe(tmp_path, name: str) -> None:
    """A module full of small integer literals, loaded under ``name`` (Hypothesis mines local modules)."""
    import importlib.util
    import sys

    path = tmp_path / f"{name.replace('.', '_')}.py"
    path.write_text("VALUES = [" + ", ".join(str(n) for n in range(0, 256, 3)) + "]\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module


def test_a_seed_walks_the_same_whatever_engine_module_is_imported(tmp_path):
    """The engine's own literals never reach Hypothesis; a user's module's literals do.

    Kept last in the suite's last module: the control below leaves its literals in
    Hypothesis's pool for the rest of the process.
    """
    first = walk(wide_model(40), journeys=20, max_steps=20, seed=9).actions
    _import_probe(tmp_path, "engine.zz_probe")
    assert walk(wide_model(40), journeys=20, max_steps=20, seed=9).actions == first
    _import_probe(tmp_path, "zz_user_probe")  # the control: this one is mined, so the walk moves
    assert walk(wide_model(40), journeys=20, max_steps=20, seed=9).actions != first


def test_a_cleanup_sent_again_as_another_account_counts_only_if_it_succeeds():
    """The review's clean-up is refused (401: its author logged out); sent once more as the actor's
    new account, the shop answers 404 ("no such review of yours"): that proves nothing is gone."""
    from engine.events import CleanupFinished

    model = Model("relogin", states=["out", "in", "posted", "left", "again"], start="out")

    def sign_up(step):
        r = step.post("/api/signup", json={"name": "n", "email": step.unique("a@example.com"), "password": "pw-12345"})
        step.expect_status(r, 201)
        step.authenticate(r.json()["token"])

    model.action(source="out", target="in", name="sign_up")(sign_up)
    model.action(source="left", target="again", name="sign_up_again")(sign_up)

    @model.action(source="in", target="posted")
    def post_review(step):
        r = step.post("/api/reviews", json={"product_id": "prd_mug", "rating": 5, "text": "fine"})
        step.expect_status(r, 201)
        step.cleanup("DELETE", "/api/reviews/{review_id}", review_id=r.json()["id"])

    @model.action(source="posted", target="left")
    def log_out(step):
        step.expect_status(step.post("/api/logout"), 204)
        step.authenticate(None)

    class Cleanups:
        def __init__(self):
            self.seen = []

        def handle(self, event):
            if isinstance(event, CleanupFinished) and event.path.startswith("/api/reviews/"):
                self.seen.append((event.status, event.ok, event.requests))

    seen, steps = Cleanups(), StepCounter()
    target = open_target("demo")
    try:
        Explorer(model, target, EventBus([seen, steps]),
                 ExploreSettings(journeys=5, max_steps=4, seed=2, database=None)).run()
    finally:
        target.close()
    assert steps.actions["sign_up_again"] > 0
    assert (404, False, 2) in seen.seen and all(not ok for status, ok, _ in seen.seen if status == 404), seen.seen
