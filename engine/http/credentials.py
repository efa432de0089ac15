"""Actors' credentials, each named by the environment variable that holds it.

A production service rarely lets a test sign up at will: its journeys sign in
as accounts made for them. The project file (or ``--credential``) says where
each actor's credentials are, never what they are::

    [credentials.alice]
    email = "SHOP_ALICE_EMAIL"        # each value names an environment variable
    password = "SHOP_ALICE_PASSWORD"

and a model reads them with ``step.credential("password")`` (the step's actor's).
Nothing keeps a credential's value: every record of a request or a response
(store, ledger, terminal, reports, reproductions) has ``${SHOP_ALICE_PASSWORD}``
where the value was, and an export reads that variable again when it runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from engine.errors import ConfigError

__all__ = ["Credentials", "parse_credential"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_credential(spec: str) -> tuple[str, str, str]:
    """``alice.password=SHOP_ALICE_PASSWORD`` as (actor, name, variable); ConfigError if malformed."""
    left, equals, variable = spec.partition("=")
    actor, dot, name = left.strip().partition(".")
    variable = variable.strip()
    if not equals or not dot or not _NAME.fullmatch(actor) or not _NAME.fullmatch(name):
        raise ConfigError(f"--credential {spec!r}: write ACTOR.NAME=VARIABLE, such as "
                          "alice.password=SHOP_ALICE_PASSWORD (VARIABLE is the environment variable holding it)")
    if not _VARIABLE.fullmatch(variable):
        raise ConfigError(f"--credential {spec!r}: {variable!r} is not an environment variable's name; write the "
                          "variable's name (SHOP_ALICE_PASSWORD), never the credential itself")
    return actor, name, variable


class Credentials:
    """Which environment variable holds each (actor, name); the values are read when asked for."""

    def __init__(self, specs: Iterable[str] = ()) -> None:
        self.variables: dict[tuple[str, str], str] = {}
        for spec in specs:
            actor, name, variable = parse_credential(spec)
            self.variables[(actor, name)] = variable

    def __bool__(self) -> bool:
        return bool(self.variables)

    def check(self, actors: Iterable[str], *, model: str) -> None:
        """Every actor named is one of the model's, and every variable is set (ConfigError, one line)."""
        actors = tuple(actors)
        for (actor, name), variable in self.variables.items():
            if actor not in actors:
                raise ConfigError(f"credentials.{actor}.{name}: model {model!r} has no actor {actor!r} "
                                  f"(its actors: {', '.join(actors)})")
            if not os.environ.get(variable):
                raise ConfigError(f"credentials.{actor}.{name}: the environment variable {variable} is not set; "
                                  "export it before the run")

    def value(self, actor: str, name: str, *, action: str) -> str:
        variable = self.variables.get((actor, name))
        if variable is None:
            known = sorted(n for a, n in self.variables if a == actor)
            raise ConfigError(
                f"action {action!r} asks for credential {name!r} of actor {actor!r}, which is not configured"
                + (f" (it has: {', '.join(known)})" if known else "")
                + f"; add [credentials.{actor}] {name} = \"VARIABLE\" to journeys.toml, or "
                  f"--credential {actor}.{name}=VARIABLE")
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"credentials.{actor}.{name}: the environment variable {variable} is not set; "
                              "export it before the run")
        return value

    def markers(self) -> Mapping[str, str]:
        """Each credential's current value -> ``${VARIABLE}``, what records keep in its place."""
        return {os.environ[variable]: "${" + variable + "}" for variable in self.variables.values()
                if os.environ.get(variable)}
