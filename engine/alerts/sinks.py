"""Where alerts go: PagerDuty (Events API v2), a Slack incoming webhook, a generic JSON webhook.

A sink renders an alert for its receiver and says which kinds it takes. Credentials are read from
the environment when the sinks are configured (a clear error naming the variable when it is
unset) and added only to what is sent: the journal keeps the alert, never the rendered request.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from engine.errors import ConfigError

__all__ = ["AlertSettings", "Sink", "configure_sinks", "PAGERDUTY_URL", "ALERT_KINDS", "DEFAULT_PAGE_ON"]

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ALERT_KINDS = ("regression", "regressed", "left-behind", "suspected-left-behind", "intermittent",
               "content-change", "inconclusive", "outage", "test")
DEFAULT_PAGE_ON = ("regression", "regressed", "left-behind", "outage")  # a person is woken for these


@attrs.frozen
class AlertSettings:
    pagerduty_key_env: str | None = None  # the environment variable holding the routing key
    pagerduty_url: str = PAGERDUTY_URL
    page_on: tuple[str, ...] = DEFAULT_PAGE_ON
    slack_url_env: str | None = None      # the variable holding the incoming webhook's URL (it is a secret)
    slack_on: tuple[str, ...] = ALERT_KINDS
    webhook_url: str | None = None
    webhook_headers: tuple[str, ...] = ()  # "Header=ENV_NAME": the header's value from the environment
    webhook_on: tuple[str, ...] = ALERT_KINDS
    outage_after_s: float = 300.0         # an incident alerts once it has lasted this long

    @property
    def any(self) -> bool:
        return bool(self.pagerduty_key_env or self.slack_url_env or self.webhook_url)


@attrs.frozen
class Sink:
    name: str                  # "pagerduty", "slack", "webhook"
    url: str
    kinds: frozenset[str]
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)
    routing_key: str | None = attrs.field(default=None, repr=False)

    def takes(self, alert: dict[str, Any]) -> bool:
        return alert["kind"] in self.kinds or alert["kind"] == "test"

    def render(self, alert: dict[str, Any]) -> dict[str, Any]:
        if self.name == "pagerduty":
            return _pagerduty(alert, self.routing_key or "")
        if self.name == "slack":
            return _slack(alert)
        return {"journeys_alert": alert}


def _pagerduty(alert: dict[str, Any], routing_key: str) -> dict[str, Any]:
    event = {"routing_key": routing_key, "event_action": alert["action"], "dedup_key": alert["key"]}
    if alert["action"] == "trigger":
        details = {k: v for k, v in alert.items() if k not in ("summary", "severity", "id", "key", "action")}
        event["payload"] = {"summary": alert["summary"][:1024], "source": alert.get("target") or "journeys",
                            "severity": alert["severity"], "component": alert.get("model") or None,
                            "class": alert["kind"], "custom_details": details}
        event["client"] = "journeys"
    return event


def _slack(alert: dict[str, Any]) -> dict[str, Any]:
    mark = {"trigger": ":rotating_light:" if alert["severity"] in ("critical", "error") else ":warning:",
            "resolve": ":white_check_mark:"}[alert["action"]]
    lines = [f"{mark} *{alert['summary']}*"]
    if alert.get("message"):
        lines.append(alert["message"])
    if alert.get("steps"):
        lines.append("```" + "\n".join(alert["steps"]) + "```")
    for name, command in (alert.get("commands") or {}).items():
        lines.append(f"{name}: `{command}`")
    if alert.get("first_seen"):
        lines.append(f"first seen {alert['first_seen']:.0f} (unix) · occurrences {alert.get('occurrences', 1)}")
    return {"text": "\n".join(lines)}


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{what}: the environment variable {name} is not set (export it, or drop the option)")
    return value


def _kinds(kinds: tuple[str, ...], option: str) -> frozenset[str]:
    unknown = sorted(set(kinds) - set(ALERT_KINDS))
    if unknown:
        raise ConfigError(f"{option}: unknown alert kind(s) {', '.join(unknown)}; known: {', '.join(ALERT_KINDS)}")
    return frozenset(kinds)


def configure_sinks(settings: AlertSettings) -> list[Sink]:
    """The configured sinks, their credentials read from the environment; ConfigError if one is missing."""
    sinks = []
    if settings.pagerduty_key_env:
        sinks.append(Sink("pagerduty", settings.pagerduty_url, _kinds(settings.page_on, "--page-on"),
                          routing_key=_env(settings.pagerduty_key_env, "--pagerduty-key-env")))
    if settings.slack_url_env:
        sinks.append(Sink("slack", _env(settings.slack_url_env, "--slack-webhook-env"),
                          _kinds(settings.slack_on, "--slack-on")))
    if settings.webhook_url:
        headers = {}
        for spec in settings.webhook_headers:
            header, sep, name = spec.partition("=")
            if not sep or not header.strip() or not name.strip():
                raise ConfigError(f"--webhook-header {spec!r}: write HEADER=ENV_NAME (the value is read from ENV_NAME)")
            headers[header.strip()] = _env(name.strip(), f"--webhook-header {header.strip()}")
        sinks.append(Sink("webhook", settings.webhook_url, _kinds(settings.webhook_on, "--webhook-on"),
                          headers=headers))
    return sinks
