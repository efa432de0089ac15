"""A generated maze for coverage: 50 states in 10 layers of 5, 200 actions, rare deep states.

Every state has four actions: two lead one layer deeper, ``back`` returns to the entrance (in
the entrance layer: to the next room) and ``look`` stays. Leaving layers 3 and 6 needs two keys, which ``look`` finds in that layer (a
precondition on what the actor holds), so the deep layers are rare for a random walk: a quarter
of all steps go back to the entrance. The last layer's forward actions walk sideways. Two seeded
bugs: ``look`` in L1s3 (shallow) and in L9s2 (the deepest layer) fail their check. Every action
is a GET of the demo shop's catalogue, so the maze walks the demo (``--target demo``).
"""

from __future__ import annotations

from engine import Model

LAYERS, WIDTH = 10, 5
GATES = (3, 6)  # leaving these layers takes two keys found there
BUGS = ("L1s3", "L9s2")


def state(layer: int, index: int) -> str:
    return f"L{layer}s{index % WIDTH}"


model = Model("maze", states=[state(layer, i) for layer in range(LAYERS) for i in range(WIDTH)], start="L0s0")


def _browse(bug: bool = False, key: str | None = None):
    def walk(step):
        r = step.get("/api/products")
        step.expect_status(r, 200)
        if key is not None:
            step.me[key] = step.me.get(key, 0) + 1
        if bug:
            step.expect(False, "the room is as the map says")
    return walk


for layer in range(LAYERS):
    for index in range(WIDTH):
        here = state(layer, index)
        key = f"keys{layer}" if layer in GATES else None
        gate = (lambda me, key=key: me.get(key, 0) >= 2) if key else None
        last = layer == LAYERS - 1
        ahead = [state(layer, index + 1), state(layer, index + 2)] if last else \
            [state(layer + 1, index), state(layer + 1, index + 1)]
        for n, there in enumerate(ahead):
            model.action(source=here, target=there, name=f"{'side' if last else 'fwd'}{n}_{here}",
                         precondition=gate)(_browse())
        back = state(0, index + 1) if layer == 0 else "L0s0"  # the entrance layer is a corridor
        model.action(source=here, target=back, name=f"back_{here}")(_browse())
        model.action(source=here, target=None, name=f"look_{here}")(_browse(bug=here in BUGS, key=key))
