"""A target that answers differently from one walk of a choice sequence to the next.

Hypothesis walks a prefix of choices it has walked before (to generate a new
journey from it, or to mutate one); on a live target the answers can change in
between (a 503, data another journey left), so the engine may choose another
action at the same pick. The shape of the walk's draws must not follow that
choice, or Hypothesis ends the round as Flaky and its search starts over. Both
targets here answer differently on purpose: the demo shop with its random 503
at checkout and its review bugs, the library behind a proxy that answers 503 to
one request in eight, at random.
"""

from __future__ import annotations

import random

import httpx
import pytest

from demo_shop import DemoShop
from engine.events import EventBus
from engine.http.client import Target
from engine.model.loader import load_model
from engine.walk.explorer import ExploreSettings, Explorer

from .conftest import ROOT, Notices
from .library_app import Library


def now_and_then_503(app, seed: int):
    """``app`` behind a proxy that answers 503 to about one request in eight, at random."""
    rng = random.Random(seed)

    def proxy(environ, start_response):
        if rng.random() < 1 / 8:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "unavailable"}']
        return app(environ, start_response)
    return proxy


TARGETS = {
    "demo shop": (lambda seed: DemoShop(bugs=("recent_reviews_encoding", "reviews_outlive_account"), seed=seed),
                  ROOT / "models" / "shop.py"),
    "library": (lambda seed: now_and_then_503(Library(bugs=()), seed), ROOT / "tests" / "library_model.py"),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_round_ends_flaky_on_a_target_that_answers_differently(name):
    make_app, model_file = TARGETS[name]
    model = load_model(str(model_file))
    for seed in (1, 2, 3, 4):
        base = "http://changing.invalid"
        client = httpx.Client(transport=httpx.WSGITransport(app=make_app(seed)), base_url=base)
        notices = Notices()
        target = Target(client=client, label=f"{name} (in-process)", base_url=base, in_process=True)
        try:
            explorer = Explorer(model, target, EventBus([notices]), ExploreSettings(
                journeys=40, max_steps=10, seed=seed, database=None, replays=2, breaker=None))
            finished = explorer.run()
        finally:
            target.close()
        assert finished.journeys == 40
        assert explorer.notes.flaky_rounds == 0, (seed, notices.messages)
        assert not [m for m in notices.messages if "Hypothesis ended the round" in m], (seed, notices.messages)
