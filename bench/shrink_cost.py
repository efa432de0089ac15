"""What does shrinking cost the target, and how much of a run is exploring?

Every request is load on someone's live system, shrinking and replays
included. Two measurements, several seeds each, medians printed:

* **per bug**, on both targets of the tests: a fresh in-process demo shop
  (``models/shop.py``) or test library (``tests/library_app.py`` with
  ``tests/library_model.py``) with exactly one seeded deterministic bug on;
  ``Explorer.run()`` until it has found it (at most 200 journeys). For the
  bug's failure: the length of the journey it was found in, the length of the
  reported path, whether the engine calls it minimal (and it has the bug's
  minimal length), and the requests sent investigating it (steps of the
  ``shrink`` phase, and of the ``experiment`` and ``reset`` phases that confirm
  left-behind state, plus their clean-ups), next to the 300-request budget.
* **share exploring**: the default first command's setting (every bug on, 400
  journeys), on each target: the share of all requests sent by exploring
  journeys, against the aim of at least 50%.

Run from the repository root:  .venv/bin/python bench/shrink_cost.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.events import (CleanupFinished, EventBus, FailureFound, JourneyFinished,  # noqa: E402
                           JourneyStarted, StepFinished)
from engine.walk.explorer import Explorer, ExploreSettings  # noqa: E402
from engine.model.loader import load_model  # noqa: E402
from engine.http.client import Target, open_target  # noqa: E402
from tests.library_app import BUGS as LIBRARY_BUGS, Library  # noqa: E402

import httpx  # noqa: E402

MODEL = ROOT / "models" / "shop.py"
LIBRARY_MODEL = ROOT / "tests" / "library_model.py"
LIBRARY = {  # seeded bug -> the action its failure is met on, and its minimal length
    "shelf_astral": ("browse_shelf", 3),
    "double_return": ("return_loan", 5),
    "loan_owner": ("view_loan", 5),
    "orphan_loans": ("view_board", 2),  # left-behind: the failing path; its setup is confirmed apart
}
BUGS = {  # seeded bug -> the action its failure is met on, and its minimal length
    "login_after_deletion": ("log_in_to_deleted_account", 3),
    "coupon_after_removal": ("remove_from_cart", 4),
    "recent_reviews_encoding": ("read_recent_reviews", 3),
    "order_owner_check": ("view_order", 5),
}


class Requests:
    """Requests by phase, clean-ups counted with the journey they belong to; and the failures."""

    def __init__(self) -> None:
        self.by_phase: dict[str, int] = {}
        self.phase_of: dict[int, str] = {}
        self.failures = []
        self.found_in: dict[int, int] = {}   # journey -> its length
        self.shrink_cost: dict[str, int] = {}  # fingerprint -> shrink requests spent on it
        self._since_last = 0

    def handle(self, event) -> None:
        if isinstance(event, JourneyStarted):
            self.phase_of[event.journey] = event.phase
        elif isinstance(event, StepFinished):
            self._add(event.phase, len(event.step.requests))
            if event.phase == "explore":
                self.found_in[event.journey] = event.step.index + 1
        elif isinstance(event, CleanupFinished):
            self._add(self.phase_of.get(event.journey, "explore"), 1)
        elif isinstance(event, JourneyFinished) and event.phase == "explore":
            self.found_in[event.journey] = event.steps
        elif isinstance(event, FailureFound):
            # A failure is investigated right before it is reported: the shrink requests since
            # the last report are its own.
            self.failures.append(event.failure)
            self.shrink_cost[event.failure.id] = self._since_last
            self._since_last = 0

    def _add(self, phase: str, count: int) -> None:
        self.by_phase[phase] = self.by_phase.get(phase, 0) + count
        if phase in INVESTIGATING:
            self._since_last += count


INVESTIGATING = ("shrink", "experiment", "reset")


def library(bugs, seed: int) -> Target:
    app = Library(bugs=LIBRARY_BUGS if bugs is True else bugs)
    client = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://library.invalid")
    return Target(client=client, label="library (in-process)", base_url="http://library.invalid",
                  in_process=True)


def demo(bugs, seed: int) -> Target:
    return open_target("demo", seed=seed, demo_bugs=bugs)


TARGETS = {  # name -> (opens the target with these bugs, model, max steps, bugs)
    "demo": (demo, MODEL, 25, None),
    "library": (library, LIBRARY_MODEL, 12, LIBRARY),
}


def explore(bugs, seed: int, journeys: int, target_name: str = "demo") -> Requests:
    opener, model, max_steps, _ = TARGETS[target_name]
    counter = Requests()
    target = opener(bugs, seed)
    try:
        Explorer(load_model(str(model)), target, EventBus([counter]),
                 ExploreSettings(journeys=journeys, max_steps=max_steps, seed=seed, database=None)).run()
    finally:
        target.close()
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    options = parser.parse_args()
    seeds = range(1, options.seeds + 1)
    print(f"{'bug':34} {'found':>5} {'journey':>7} {'path':>4} {'minimal':>7} {'shrink req':>10} "
          f"{'budget':>6}   (medians over {options.seeds} seeds)")
    for name in TARGETS:
        bugs = TARGETS[name][3] or BUGS
        for bug, (action, minimal_length) in bugs.items():
            rows = []
            for seed in seeds:
                counter = explore((bug,), seed, 200, name)
                failure = next((f for f in counter.failures if f.fingerprint.action == action), None)
                if failure is None:
                    continue
                rows.append((counter.found_in.get(failure.found_in_journey, 0), len(failure.steps),
                             failure.minimal and len(failure.steps) == minimal_length,
                             counter.shrink_cost[failure.id]))
            label = f"{name}: {bug}"
            if not rows:
                print(f"{label:34} {0:>5}")
                continue
            print(f"{label:34} {len(rows):>5} {statistics.median(r[0] for r in rows):>7} "
                  f"{statistics.median(r[1] for r in rows):>4} {sum(r[2] for r in rows):>4}/{len(rows):<2} "
                  f"{statistics.median(r[3] for r in rows):>10} {300:>6}")
    for name in TARGETS:
        shares = []
        for seed in seeds:
            counter = explore(True, seed, 400, name)
            total = sum(counter.by_phase.values())
            shares.append(counter.by_phase.get("explore", 0) / total)
        print(f"\n{name}: share of requests exploring, every bug on, 400 journeys: median "
              f"{statistics.median(shares):.0%} (min {min(shares):.0%}, max {max(shares):.0%}; aim >= 50%)")


if __name__ == "__main__":
    main()
