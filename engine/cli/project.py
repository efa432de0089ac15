"""The project file, ``journeys.toml``: a run's settings kept beside its model, every one a flag too.

Each key maps to the option of the same meaning; the file's values become the
commands' defaults (click's ``default_map``), so a flag given on the command line
always wins. A value is checked by the option's own type, and a string
``"${NAME}"`` is read from the environment variable ``NAME`` (credentials and
URLs stay out of the file). Every mistake is one line naming the key and the
fix: an unknown key (with the keys its table knows), a bad value, a missing
environment variable.

::

    model = "models/shop.py"
    target = "${SHOP_URL}"
    allowed_hosts = ["cdn.example.com"]
    duration = "8h"

    [rate]
    limit = "5/s"
    timezone = "Europe/Berlin"
    schedule = ["mon-fri 08:00-20:00 1/s", "thu 14:00-15:30 pause"]

    [breaker]
    after = 5
    slow = "5s"

    [credentials.alice]               # step.credential("password"): each value names a variable
    password = "SHOP_ALICE_PASSWORD"
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import click

from engine.errors import ConfigError
from engine.http.credentials import parse_credential
from engine.redact import MASK, is_secret_name

__all__ = ["KEYS", "DEFAULT_PROJECT", "load_project", "default_map", "effective_settings"]

DEFAULT_PROJECT = "journeys.toml"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# key in the file -> (option name, how the file's value becomes the option's)
KEYS: dict[str, tuple[str, Any]] = {
    "model": ("model_spec", None),
    "target": ("target", None),
    "journeys": ("journeys", None),
    "max_steps": ("max_steps", None),
    "seed": ("seed", None),
    "duration": ("duration", None),
    "replays": ("replays", None),
    "shrink_budget": ("shrink_budget", None),
    "reset": ("reset", None),
    "store": ("store", None),
    "mirror": ("mirror", None),
    "out": ("out_dir", None),
    "examples_db": ("examples_db", None),
    "allowed_hosts": ("allow_hosts", None),
    "rate.limit": ("rate", None),
    "rate.schedule": ("schedule", None),
    "rate.timezone": ("timezone_name", None),
    "traffic.run_header": ("run_header", None),
    "traffic.user_agent": ("user_agent", None),
    "traffic.timeout": ("timeout_s", None),
    "breaker.enabled": ("no_breaker", lambda enabled: not enabled),
    "breaker.after": ("breaker_after", None),
    "breaker.max_wait": ("breaker_max_wait", None),
    "breaker.slow": ("breaker_slow", None),
    "breaker.probe_path": ("probe_path", None),
    "heartbeat.file": ("heartbeat_path", None),
    "heartbeat.every": ("heartbeat_every", None),
    "forever": ("forever", None),
    "workers": ("workers", None),
    "strategy": ("strategy", None),
    "until": ("until", None),
    "recheck.every": ("recheck_every", None),
    "recheck.times": ("recheck_times", None),
    "recheck.enabled": ("no_recheck", lambda enabled: not enabled),
    "known_refresh_every": ("known_refresh", None),
    "alerts.pagerduty_key_env": ("pagerduty_key_env", None),
    "alerts.pagerduty_url": ("pagerduty_url", None),
    "alerts.page_on": ("page_on", None),
    "alerts.slack_webhook_env": ("slack_url_env", None),
    "alerts.slack_on": ("slack_on", None),
    "alerts.webhook_url": ("webhook_url", None),
    "alerts.webhook_headers": ("webhook_headers", None),
    "alerts.webhook_on": ("webhook_on", None),
    "alerts.outage_after": ("outage_after", None),
    "masks.fields": ("mask_fields", None),
    "masks.contacts": ("no_mask_contacts", lambda contacts: not contacts),
}
FROM_ENVIRONMENT = "_from_environment"  # the options whose value the file took from the environment
_LISTS = {"allowed_hosts", "until", "rate.schedule", "masks.fields", "alerts.page_on", "alerts.slack_on",
          "alerts.webhook_headers", "alerts.webhook_on"}
_BOOLS = {"reset", "forever", "breaker.enabled", "masks.contacts", "recheck.enabled"}


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            if not any(known.startswith(dotted + ".") for known in KEYS):
                raise ConfigError(_unknown(dotted))
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _unknown(dotted: str) -> str:
    table, _, _ = dotted.rpartition(".")
    siblings = sorted(k.rpartition(".")[2] for k in KEYS if k.rpartition(".")[0] == table)
    tables = sorted({k.partition(".")[0] for k in KEYS if "." in k} | {"credentials"})
    where = f"[{table}]" if table else "the top level"
    return (f"unknown key {dotted!r}; {where} knows: {', '.join(siblings)}"
            + ("" if table else f", and the tables [{'], ['.join(tables)}]"))


def _mentions_environment(value: Any) -> bool:
    return any(isinstance(v, str) and _ENV.search(v) for v in (value if isinstance(value, list) else [value]))


def _from_environment(key: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_from_environment(key, item) for item in value]
    if not isinstance(value, str):
        return value

    def read(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{key} = {value!r}: the environment variable {name} is not set; export it, "
                              "or write the value in the file")
        return os.environ[name]

    return _ENV.sub(read, value)


def load_project(path: str | Path) -> dict[str, Any]:
    """The file's settings by option name, checked; ConfigError (one line, naming the key) if not."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read the project file {str(path)!r}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    from engine.cli.main import explore  # the options the file's keys stand for

    params = {param.name: param for param in explore.params}
    settings: dict[str, Any] = {}
    try:
        if "credentials" in raw:
            settings["credentials"] = _credentials(raw.pop("credentials"))
        for key, value in _flatten(raw).items():
            if key not in KEYS:
                raise ConfigError(_unknown(key))
            name, convert = KEYS[key]
            if _mentions_environment(value):
                settings.setdefault(FROM_ENVIRONMENT, set()).add(name)
            value = _from_environment(key, value)
            if key in _LISTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"{key} = {value!r}: write a list of strings, such as [\"a\", \"b\"]")
            if key in _BOOLS and not isinstance(value, bool):
                raise ConfigError(f"{key} = {value!r}: write true or false")
            if convert is not None:
                value = convert(value)
            param = params[name]
            try:
                if name != "model_spec":
                    param.type_cast_value(click.Context(explore), value)
            except click.BadParameter as error:
                raise ConfigError(f"{key} = {value!r}: {error.format_message()}") from None
            settings[name] = value
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return settings


def _credentials(table: Any) -> list[str]:
    """``[credentials.ACTOR] NAME = "VARIABLE"`` as ``--credential ACTOR.NAME=VARIABLE`` values."""
    example = '[credentials.alice] password = "SHOP_ALICE_PASSWORD"'
    if not isinstance(table, dict):
        raise ConfigError(f"credentials = {table!r}: write a table for each actor, such as {example}")
    specs = []
    for actor, names in table.items():
        if not isinstance(names, dict):
            raise ConfigError(f"credentials.{actor} = {names!r}: write a table for the actor, such as {example}")
        for name, variable in names.items():
            key = f"credentials.{actor}.{name}"
            if not isinstance(variable, str):
                raise ConfigError(f"{key} = {variable!r}: write the name of the environment variable that holds "
                                  "it, as a string")
            try:
                spec = "{}.{}={}".format(*parse_credential(f"{actor}.{name}={variable}"))
            except ConfigError:
                raise ConfigError(f"{key} = {variable!r}: write the name of the environment variable that holds it "
                                  "(letters, digits and _, such as SHOP_ALICE_PASSWORD), never the credential "
                                  "itself") from None
            specs.append(spec)  # set or not, the commands that send requests check (export, report need not)
    return specs


def default_map(settings: dict[str, Any], commands: dict[str, click.Command]) -> dict[str, dict[str, Any]]:
    """Each command's defaults: the settings it has an option for (``store`` for them all, say)."""
    mapped: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        known = {param.name for param in command.params}
        values = {key: value for key, value in settings.items() if key in known}
        if isinstance(command, click.Group):
            values = {**values, **default_map(settings, command.commands)}
        if values:
            mapped[name] = values
    return mapped


def effective_settings(settings: dict[str, Any], command: click.Command) -> list[tuple[str, str, str]]:
    """(key, value, where it comes from) for every key the file may set, secrets masked."""
    params = {param.name: param for param in command.params}
    rows = []
    for key, (name, _) in KEYS.items():
        if name in settings:
            value, source = settings[name], "journeys.toml"
        else:
            default = params[name].get_default(click.Context(command), call=False) if name in params else None
            if callable(default) or type(default).__name__ == "Sentinel":  # click's "no default given"
                default = None
            value, source = default, "default"
        if key in ("breaker.enabled", "masks.contacts", "recheck.enabled"):
            value = not value
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        if is_secret_name(key) or name in settings.get(FROM_ENVIRONMENT, ()):
            value = f"{MASK} (from the environment)"
        rows.append((key, "" if value is None or value == () else str(value), source))
    for spec in settings.get("credentials", ()):  # the variable's name, never its value
        actor, name, variable = parse_credential(spec)
        state = "set" if os.environ.get(variable) else "NOT SET: explore, replay and cleanup stop at start"
        rows.append((f"credentials.{actor}.{name}", f"${variable} ({state})", "journeys.toml"))
    return rows
