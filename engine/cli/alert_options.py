"""Alert sinks on the command line (and in the project file's ``[alerts]``), and ``journeys alerts``."""

from __future__ import annotations

import sys
import time
import uuid

import click

from engine.alerts.alert import test_alert
from engine.alerts.dispatcher import AlertDispatcher
from engine.alerts.outbox import Outbox
from engine.alerts.sinks import ALERT_KINDS, DEFAULT_PAGE_ON, PAGERDUTY_URL, AlertSettings, configure_sinks
from engine.cli.options import Duration, fail, local_store_option
from engine.errors import JourneysError
from engine.store import store_path
from engine.store.alert_journal import AlertJournal, read_alert_journal

__all__ = ["alert_options", "alert_settings", "open_alerts", "alerts"]


def _kinds(ctx, param, value):
    kinds = tuple(k.strip() for item in value or () for k in str(item).split(",") if k.strip())
    unknown = sorted(set(kinds) - set(ALERT_KINDS))
    if unknown:
        raise click.BadParameter(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(ALERT_KINDS)}")
    return kinds or None


_OPTIONS = [
    click.option("--pagerduty-key-env", metavar="NAME", default=None,
                 help="Alert PagerDuty (Events API v2): the environment variable holding the routing key."),
    click.option("--pagerduty-url", default=PAGERDUTY_URL, show_default=True, help="PagerDuty's events endpoint."),
    click.option("--page-on", multiple=True, callback=_kinds, metavar="KINDS",
                 help=f"Kinds that page (comma-separated) [default: {','.join(DEFAULT_PAGE_ON)}]."),
    click.option("--slack-webhook-env", "slack_url_env", metavar="NAME", default=None,
                 help="Alert Slack: the environment variable holding the incoming webhook's URL."),
    click.option("--slack-on", multiple=True, callback=_kinds, metavar="KINDS",
                 help="Kinds posted to Slack [default: all]."),
    click.option("--webhook-url", metavar="URL", default=None, help="Alert a webhook: POST each alert as JSON."),
    click.option("--webhook-header", "webhook_headers", multiple=True, metavar="HEADER=ENV",
                 help="A header for the webhook, its value read from the environment variable ENV (repeatable)."),
    click.option("--webhook-on", multiple=True, callback=_kinds, metavar="KINDS",
                 help="Kinds sent to the webhook [default: all]."),
    click.option("--alert-outage-after", "outage_after", type=Duration(), default="5m", show_default=True,
                 help="An availability incident alerts once it has lasted this long (and resolves when it ends)."),
]


def alert_options(command):
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def alert_settings(pagerduty_key_env=None, pagerduty_url=PAGERDUTY_URL, page_on=None, slack_url_env=None,
                   slack_on=None, webhook_url=None, webhook_headers=(), webhook_on=None,
                   outage_after=300.0) -> AlertSettings:
    return AlertSettings(pagerduty_key_env=pagerduty_key_env, pagerduty_url=pagerduty_url,
                         page_on=page_on or DEFAULT_PAGE_ON, slack_url_env=slack_url_env,
                         slack_on=slack_on or ALERT_KINDS, webhook_url=webhook_url,
                         webhook_headers=tuple(webhook_headers), webhook_on=webhook_on or ALERT_KINDS,
                         outage_after_s=outage_after)


def open_alerts(settings: AlertSettings, store, *, run_id: str, model: str, target: str) -> AlertDispatcher | None:
    """The dispatcher for the configured sinks (None without any); ConfigError for a missing variable."""
    sinks = configure_sinks(settings)
    if not sinks:
        return None
    return AlertDispatcher(settings, sinks, str(store_path(store)), run_id=run_id, model=model, target=target,
                           store_label=str(store) if store else "",
                           on_delivery=lambda sink, summary, outcome: click.echo(
                               f"alert to {sink}: {outcome}: {summary}", err=outcome != "delivered"),
                           on_left=lambda left: click.echo(
                               f"journeys: {left} alert(s) not delivered yet; the next run on this store "
                               f"sends them again", err=True))


@click.group()
def alerts() -> None:
    """The alert sinks: try them, see what was sent."""


@alerts.command("test")
@alert_options
@local_store_option
@click.option("--wait", "wait_s", type=Duration(), default="30s", show_default=True,
              help="How long to keep retrying a sink that does not answer.")
def test_command(store, wait_s, **options) -> None:
    """Send a test alert to each configured sink; exit 0 if every one took it, 1 if not."""
    try:
        sinks = configure_sinks(alert_settings(**options))
    except JourneysError as error:
        fail(error)
    if not sinks:
        raise click.UsageError("no sink configured: give --pagerduty-key-env, --slack-webhook-env or --webhook-url "
                               "(or set them in the project file's [alerts])")
    name = f"test-{uuid.uuid4().hex[:8]}"
    outcomes: dict[str, str] = {}
    outbox = Outbox(AlertJournal(store_path(store), name), run_id=name,
                    on_delivery=lambda sink, summary, outcome: outcomes.__setitem__(sink, outcome))
    sent = {sink.name: test_alert(sink.name) for sink in sinks}
    for sink in sinks:
        outbox.put(sink, sent[sink.name])
    deadline = time.monotonic() + wait_s
    while len(outcomes) < len(sinks) and time.monotonic() < deadline:
        time.sleep(0.05)
    outbox.close(wait_s=0)
    for sink in sinks:
        outcome = outcomes.get(sink.name) or _last_error(store, sent[sink.name]["id"], wait_s)
        click.echo(f"{sink.name}: {outcome}")
    sys.exit(0 if all(outcomes.get(s.name) == "delivered" for s in sinks) else 1)


def _last_error(store, alert_id: str, wait_s: float) -> str:
    for queued in read_alert_journal(store_path(store)).alerts:
        if queued.alert_id == alert_id:
            why = f"answered {queued.last_status}" if queued.last_status else (queued.last_error or "no answer")
            return f"not delivered after {queued.attempts} attempt(s) in {wait_s:.0f}s ({why})"
    return "not delivered"
