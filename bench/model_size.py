"""Does a step cost the same in a big model? The shop model next to a generated 200-action one.

Both walk the in-process demo shop (seeded bugs off) for the same number of
steps. The generated model has 10 states in a ring and 200 actions, 20 leaving
each state (a third of them move on to the next state, the rest stay), each a
GET of the catalogue with its status checked. Printed: steps/s of each and
their ratio (aim: the big model at least 0.5 of the shop's), how many of the
200 actions were chosen at least once (aim: all, in 5,000 steps), and the share
of journeys that reached ``--max-steps``.

Run from the repository root:  .venv/bin/python bench/model_size.py [--journeys 50] [--max-steps 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Model  # noqa: E402
from engine.events import EventBus, JourneyFinished, StepFinished  # noqa: E402
from engine.walk.explorer import Explorer, ExploreSettings  # noqa: E402
from engine.model.loader import load_model  # noqa: E402
from engine.http.client import open_target  # noqa: E402

STATES = 10
ACTIONS = 200


def generated_model() -> Model:
    model = Model("generated", states=[f"s{n}" for n in range(STATES)], start="s0")
    for number in range(ACTIONS):
        state = number % STATES
        moves = (number // STATES) % 3 == 0

        def browse(step):
            step.expect_status(step.get("/api/products"), 200)
        model.action(source=f"s{state}", target=f"s{(state + 1) % STATES}" if moves else None,
                     name=f"a{number:03d}")(browse)
    return model


class Tally:
    def __init__(self) -> None:
        self.actions: Counter[str] = Counter()
        self.lengths: list[int] = []

    def handle(self, event) -> None:
        if isinstance(event, StepFinished) and event.phase == "explore":
            self.actions[event.step.action] += 1
        elif isinstance(event, JourneyFinished) and event.phase == "explore":
            self.lengths.append(event.steps)


def walk(model: Model, journeys: int, max_steps: int, seed: int) -> tuple[Tally, float]:
    tally = Tally()
    target = open_target("demo", seed=seed, demo_bugs=False)
    try:
        started = time.perf_counter()
        Explorer(model, target, EventBus([tally]), ExploreSettings(
            journeys=journeys, max_steps=max_steps, seed=seed, database=None)).run()
        return tally, time.perf_counter() - started
    finally:
        target.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=50)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rows = []
    for name, model in (("shop (16 actions)", load_model(str(ROOT / "models" / "shop.py"))),
                        (f"generated ({ACTIONS} actions)", generated_model())):
        tally, elapsed = walk(model, options.journeys, options.max_steps, options.seed)
        steps = sum(tally.actions.values())
        full = sum(length == options.max_steps for length in tally.lengths) / max(1, len(tally.lengths))
        rows.append((name, steps, steps / elapsed, len(tally.actions), len(model.actions), full))
    print(f"{'model':24} {'steps':>6} {'steps/s':>8} {'actions chosen':>15} {'journeys full':>14}")
    for name, steps, rate, chosen, total, full in rows:
        print(f"{name:24} {steps:>6} {rate:>8.0f} {chosen:>7} of {total:<5} {full:>13.0%}")
    print(f"\nbig model / shop model steps/s: {rows[1][2] / rows[0][2]:.2f} (aim >= 0.5)")


if __name__ == "__main__":
    main()
