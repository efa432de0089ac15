"""What runs when a journey ends: its registered clean-ups (newest first), then the model's teardowns.

Each clean-up is sent as its actor was when it registered it (signed in, with its cookies then).
One the target refused (401 or 403: nothing was done) is sent once more as the actor is now, if it
has signed in again since (then only a success counts: a 404 to another account may mean "not
yours"); nothing else is ever sent twice. Every request is reported as a
``CleanupFinished`` and settles its ledger entry; what the model said its teardown removes
(``step.created``) leaves the ledger once the actor's teardowns ran without an error or a 5xx.
Nothing here raises: a clean-up must never break the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.http.provenance import plain
from engine.model.step import StepContext, credential_header

if TYPE_CHECKING:
    from engine.walk.journey import JourneyRunner

__all__ = ["run_cleanups", "run_teardowns"]


def run_cleanups(runner: JourneyRunner) -> None:
    for actor, session, headers, method, template, path_vars, step, action, ledger_id in reversed(runner.cleanups):
        response, record = _send(runner, method, template, path_vars, headers, action, session)
        now = runner.sessions[actor]
        requests = 1
        if (response is not None and response.status_code in (401, 403) and now.signed_in
                and now.credentials != session.credentials):
            added = credential_header(now, {}, runner.token)
            response, record = _send(runner, method, template, path_vars, {added[0]: added[1]} if added else {},
                                     action, now)
            requests += 1
        status = response.status_code if response is not None else None
        # Sent again as someone else, a 404 may mean "not yours", not "gone": only a success settles it.
        runner._cleaned(actor, method, record.path if record else template, status,
                        created_by_step=step, created_by_action=action, ledger_id=ledger_id,
                        requests=requests, missing_is_gone=requests == 1)
    runner.cleanups.clear()


def run_teardowns(runner: JourneyRunner) -> None:
    settled = dict.fromkeys(runner.model.actors, True)  # the actor's teardowns ran and none failed
    for teardown in runner.model.teardowns:
        for actor in runner.model.actors:
            context = StepContext(runner, actor, f"teardown:{teardown.__name__}")
            try:
                teardown(context)
            except Exception:  # reported through the requests it made, never raised
                settled[actor] = False
            for record in context.requests:
                runner._cleaned(actor, record.method, record.path, record.status)
                settled[actor] &= record.status is not None and record.status < 500
    # What the teardown removes leaves the ledger once it ran; if it failed, a sweep tries again.
    for actor, ledger_id in runner.crash_only:
        if settled[actor]:
            runner.withdraw(ledger_id, "the teardown ran")
    runner.crash_only.clear()


def _send(runner: JourneyRunner, method, template, path_vars, headers, action, session):
    try:
        return runner.client.send(method, template, path_vars=plain(path_vars), headers=headers,
                                  action=f"clean-up of {action}", session=session)
    except Exception:
        return None, None
