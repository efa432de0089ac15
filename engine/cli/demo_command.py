"""``journeys demo serve``: the embedded demo shop over real HTTP, for trying journeys and for benchmarks."""

from __future__ import annotations

import os
import time

import click

from demo_shop.app import BUGS as DEMO_BUGS
from engine.cli.options import Duration, fail
from engine.errors import ConfigError

__all__ = ["demo"]


class Slowed:
    """The app, answering each request ``latency_s`` later: a shop on the far side of a network."""

    def __init__(self, app, latency_s: float) -> None:
        self.app, self.latency_s = app, latency_s

    def __call__(self, environ, start_response):
        time.sleep(self.latency_s)  # the server is threaded: requests wait side by side, as on a network
        return self.app(environ, start_response)


@click.group()
def demo() -> None:
    """The embedded demo shop."""


@demo.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8765, show_default=True)
@click.option("--bugs/--no-bugs", default=True, show_default=True, help="Seeded bugs on, or a fixed build.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bug", "only", multiple=True, metavar="NAME",
              type=click.Choice(DEMO_BUGS),
              help="Exactly these seeded bugs (repeatable), instead of the default set.")
@click.option("--operator-token-env", default="SHOP_OPERATOR_TOKEN", show_default=True, metavar="NAME",
              help="The environment variable holding the operator's bearer token (who may delete any "
                   "account or review: journeys cleanup signs in as the operator); unset: no operator.")
@click.option("--latency", type=Duration(), default=None,
              help="Answer every request this much later (e.g. 20ms): a target across a network.")
def demo_serve(host, port, bugs, seed, only, operator_token_env, latency) -> None:
    """Serve the demo shop over HTTP until interrupted."""
    from demo_shop import DemoShop, serve

    if only:
        bugs = only
    operator_token = os.environ.get(operator_token_env) or None

    def ready(url: str) -> None:
        state = (", ".join(bugs) if only else "on") if bugs else "off (fixed build)"
        operator = f"; operator token from ${operator_token_env}" if operator_token else ""
        slowed = f"; {latency * 1000:g} ms added to each answer" if latency else ""
        click.echo(f"demo shop listening on {url} (seeded bugs {state}{operator}{slowed}); Ctrl-C to stop", err=True)

    app = DemoShop(bugs=bugs, seed=seed, operator_token=operator_token)
    try:
        serve(Slowed(app, latency) if latency else app, host=host, port=port, ready=ready)
    except OSError as error:
        fail(ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}"))
