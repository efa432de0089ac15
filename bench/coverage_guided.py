"""Does --strategy coverage reach every edge sooner than random walks, and find as many bugs?

Two models against the in-process demo shop: ``models/shop.py`` (4 states, 16 actions, the demo's
seeded bugs on) and the generated maze ``tests/maze_model.py`` (50 states in 10 layers, 200
actions, layers behind preconditions, a shallow and a deep seeded bug). Each runs for the same
journey budget with ``--strategy random`` and ``--strategy coverage`` over several seeds; a
subscriber counts the exploring steps and notes the step at which the run first took every edge
and at which each distinct failure was first met. Printed per run, then medians per strategy and
the ratio coverage/random of steps to full edge coverage (aim on the maze: at most 1/3), and the
fewest bugs each strategy found (aim: coverage never fewer). A run that never took every edge
counts as its whole budget, so its ratio is a bound (shown with "<=").

Not part of the test suite (about 3 minutes). Run from the repository root:

    .venv/bin/python bench/coverage_guided.py
    .venv/bin/python bench/coverage_guided.py --seeds 1,2,3,4,5 --maze-journeys 3000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.events import EventBus, FailureFound, StepFinished  # noqa: E402
from engine.http.client import open_target  # noqa: E402
from engine.model.loader import load_model  # noqa: E402
from engine.walk.explorer import Explorer, ExploreSettings  # noqa: E402


class Progress:
    """Exploring steps, the step at which every edge had been taken, and when each failure was first met."""

    def __init__(self, edges: int) -> None:
        self.edges, self.steps, self.taken, self.full_at = edges, 0, set(), None
        self.bugs: dict[str, int] = {}

    def handle(self, event) -> None:
        if isinstance(event, StepFinished) and event.phase == "explore":
            self.steps += 1
            self.taken.add((event.step.action, event.step.source))
            if self.step_failed(event) and event.step.fingerprint not in self.bugs:
                self.bugs[event.step.fingerprint] = self.steps
            if self.full_at is None and len(self.taken) == self.edges:
                self.full_at = self.steps
        elif isinstance(event, FailureFound):
            self.bugs.setdefault(event.failure.fingerprint.id, self.steps)

    @staticmethod
    def step_failed(event) -> bool:
        return event.step.fingerprint is not None and event.step.outcome in ("failed", "known")


def run(model_file: Path, strategy: str, seed: int, journeys: int) -> Progress:
    model = load_model(str(model_file))
    progress = Progress(sum(len(action.sources) for action in model.actions))
    target = open_target("demo", seed=seed, demo_bugs=True)
    try:
        Explorer(model, target, EventBus([progress]), ExploreSettings(
            journeys=journeys, seed=seed, database=None, strategy=strategy, breaker=None)).run()
    finally:
        target.close()
    return progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--shop-journeys", type=int, default=200)
    parser.add_argument("--maze-journeys", type=int, default=1500)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    for label, model_file, journeys in (("shop", ROOT / "models" / "shop.py", args.shop_journeys),
                                        ("maze", ROOT / "tests" / "maze_model.py", args.maze_journeys)):
        print(f"\n{label}: {journeys} journeys per run, seeds {args.seeds}")
        print(f"{'strategy':<10}{'seed':>5}{'steps':>8}{'to all edges':>14}{'edges':>7}{'bugs':>6}  steps to each bug")
        results: dict[str, list[Progress]] = {"random": [], "coverage": []}
        for strategy in results:
            for seed in seeds:
                progress = run(model_file, strategy, seed, journeys)
                results[strategy].append(progress)
                full = str(progress.full_at) if progress.full_at else f">{progress.steps}"
                found = " ".join(str(step) for step in sorted(progress.bugs.values()))
                print(f"{strategy:<10}{seed:>5}{progress.steps:>8}{full:>14}{len(progress.taken):>7}"
                      f"{len(progress.bugs):>6}  {found}", flush=True)
        medians = {s: statistics.median(p.full_at or p.steps for p in runs) for s, runs in results.items()}
        bound = "" if all(p.full_at for p in results["random"]) else "<="
        fewest = {s: min(len(p.bugs) for p in runs) for s, runs in results.items()}
        print(f"median steps to every edge: random {medians['random']:.0f}"
              f"{' (some runs never got there)' if bound else ''}, coverage {medians['coverage']:.0f}; "
              f"ratio coverage/random {bound}{medians['coverage'] / medians['random']:.2f}")
        print(f"fewest bugs found in a run: random {fewest['random']}, coverage {fewest['coverage']}")


if __name__ == "__main__":
    main()
