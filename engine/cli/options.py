"""What the commands share: option types that fail as usage errors, shared options, one-line errors."""

from __future__ import annotations

import re
import sys

import click

from engine.errors import ConfigError, JourneysError, ModelError
from engine.http.credentials import parse_credential
from engine.http.rate import parse_rate
from engine.http.schedule import parse_window, time_zone
from engine.model.loader import load_model
from engine.model.validate import problems
from engine.store import DEFAULT_STORE
from engine.store.reader import chosen_store
from engine.store.remote import is_remote

__all__ = ["Duration", "RateOption", "WindowOption", "schedule_options", "store_option", "local_store_option",
           "coverage_options", "rate_option", "credential_option", "fail", "load_valid_model"]


class Duration(click.ParamType):
    """``20ms``, ``90s``, ``10m``, ``2h``, ``1d`` or a number of seconds."""

    name = "duration"
    UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|[smhd]?)\s*", str(value))
        if not match or float(match.group(1)) <= 0:
            self.fail(f"{value!r} is not a duration; use e.g. 90s, 10m, 2h or 1d", param, ctx)
        return float(match.group(1)) * self.UNITS[match.group(2) or "s"]


class RateOption(click.ParamType):
    """``5/s``, ``300/min``, ``1/10s``: checked when the flag is read, a usage error if it is bad."""

    name = "rate"

    def convert(self, value, param, ctx):
        try:
            return parse_rate(str(value)).text
        except ConfigError as error:
            self.fail(str(error), param, ctx)


class WindowOption(click.ParamType):
    """A schedule window, ``mon-fri 08:00-20:00 2/s`` or ``sat 02:00-04:00 pause``, checked when read."""

    name = "window"

    def convert(self, value, param, ctx):
        try:
            return parse_window(str(value)).text
        except ConfigError as error:
            self.fail(str(error), param, ctx)


class CredentialOption(click.ParamType):
    """``alice.password=SHOP_ALICE_PASSWORD``: where an actor's credential is, never what it is."""

    name = "credential"

    def convert(self, value, param, ctx):
        try:
            parse_credential(str(value))
        except ConfigError as error:
            self.fail(str(error).removeprefix(f"--credential {str(value)!r}: "), param, ctx)
        return str(value)


def credential_option(function):
    return click.option(
        "--credential", "credentials", multiple=True, type=CredentialOption(), metavar="ACTOR.NAME=VARIABLE",
        help="An actor's credential, read by the model's step.credential(NAME) from the environment "
             "variable VARIABLE (repeatable; project file: [credentials.ACTOR] NAME = \"VARIABLE\"). "
             "No record keeps its value.")(function)


class ZoneOption(click.ParamType):
    name = "zone"

    def convert(self, value, param, ctx):
        try:
            time_zone(str(value))
        except ConfigError as error:
            self.fail(str(error), param, ctx)
        return str(value)


def schedule_options(function):
    function = click.option("--timezone", "timezone_name", type=ZoneOption(), default="UTC", show_default=True,
                            help="The time zone of --schedule's times, e.g. Europe/Berlin.")(function)
    return click.option("--schedule", "schedule", multiple=True, type=WindowOption(), metavar="WINDOW",
                        help="A window with its own cap, or a pause (repeatable; the first that holds wins): "
                             "'mon-fri 08:00-20:00 2/s', '* 22:00-06:00 20/s', 'sat 02:00-04:00 pause'. "
                             "Outside every window --rate holds.")(function)


def store_option(function):
    """``--store`` of a command that only reads the store: a folder, or a bucket runs mirror to."""
    return click.option("--store", default=None, metavar="PATH",
                        help=f"The store: a folder, or s3://BUCKET/PREFIX where runs copy theirs with --mirror "
                             f"[default: $JOURNEYS_STORE or ./{DEFAULT_STORE}].")(function)


def _local_store(ctx, param, value):
    if is_remote(chosen_store(value)):
        raise click.BadParameter(f"{chosen_store(value)} is on object storage, but this command writes to the "
                                 "store: give a folder (a run copies its store to a bucket with --mirror)",
                                 ctx=ctx, param=param)
    return value


def local_store_option(function):
    """``--store`` of a command that writes to the store: a folder."""
    return click.option("--store", default=None, metavar="PATH", callback=_local_store,
                        help=f"The store folder [default: $JOURNEYS_STORE or ./{DEFAULT_STORE}].")(function)


def _until(ctx, param, values):
    from engine.walk.coverage import parse_until

    try:
        parse_until(values)
    except ConfigError as error:
        raise click.BadParameter(str(error).removeprefix("--until "), ctx=ctx, param=param) from None
    return tuple(values)


def coverage_options(function):
    """``--strategy`` and ``--until``: how the walk chooses its steps, and when it has done enough."""
    function = click.option(
        "--until", multiple=True, callback=_until, metavar="CONDITION",
        help="Stop once edge-coverage=N%, edge-pair-coverage=N% or failures=N is met (repeatable: any met "
             "stops); with --duration and --journeys, whichever comes first [default --journeys: no limit].")(function)
    return click.option(
        "--strategy", type=click.Choice(["random", "coverage"]), default="random", show_default=True,
        help="random: steps by weight; coverage: steer journeys toward edges and edge pairs never taken "
             "(and the states they leave).")(function)


def fail(error: JourneysError) -> None:
    click.echo(f"journeys: error: {error}", err=True)
    for problem in getattr(error, "problems", []):
        click.echo(f"  {problem}", err=True)
    sys.exit(error.exit_code)


def load_valid_model(spec: str):
    model = load_model(spec)
    found = problems(model)
    if found:
        raise ModelError(f"{spec}: {len(found)} problem(s) in model {model.name!r}", found)
    return model


rate_option = click.option(
    "--rate", type=RateOption(), default=None, metavar="N/UNIT",
    help="Cap on requests to the target, shrinking, replays, pre-flight and clean-ups included: "
         "5/s, 300/min, 1/10s [default: no cap].")
