"""The left-behind rule on its own, fed with the events a run would emit."""

from __future__ import annotations

from engine.events import CleanupFinished, JourneyFinished, StepFinished
from engine.failures.left_behind import SessionHistory, describe
from engine.records import StepRecord

RUN = "run0"


def step(index, action, *, passed=True, cleanups=0, tags=()):
    return StepRecord(index=index, actor="alice", action=action, source="s", target="s", data={},
                      requests=(), checks=(), outcome="passed" if passed else "failed", duration_ms=1.0,
                      tags=tuple(tags), cleanups=cleanups)


class Run:
    def __init__(self):
        self.history = SessionHistory()

    def journey(self, number, steps, *, fingerprint=None, failed_cleanup_of=None):
        for record in steps:
            self.history.handle(StepFinished(run_id=RUN, journey=number, phase="explore", step=record))
        if failed_cleanup_of is not None:
            self.history.handle(CleanupFinished(run_id=RUN, journey=number, actor="alice", method="DELETE",
                                                path="/api/reviews/rev_1", status=401, ok=False,
                                                created_by_step=failed_cleanup_of, created_by_action="post_review"))
        self.history.handle(JourneyFinished(run_id=RUN, journey=number, phase="explore", steps=len(steps),
                                            outcome="failed" if fingerprint else "passed", duration_ms=1.0,
                                            fingerprint=fingerprint))


READ_FAILS = (step(0, "read_recent_reviews", passed=False),)


def test_names_the_creation_whose_clean_up_failed_between_the_last_pass_and_the_first_failure():
    run = Run()
    run.journey(1, [step(0, "read_recent_reviews")])
    run.journey(2, [step(0, "sign_up", tags=("t1",)), step(1, "post_review", cleanups=1), step(2, "log_out")],
                failed_cleanup_of=1)
    run.journey(3, [step(0, "sign_up", tags=("t2",))])  # no failed clean-up: not preferred
    run.journey(4, list(READ_FAILS), fingerprint="fp")
    left = run.history.left_behind("fp", READ_FAILS)
    assert left is not None
    assert (left.journey, left.step, left.creating_step.action) == (2, 1, "post_review")
    assert [s.action for s in left.steps] == ["sign_up", "post_review", "log_out"]  # the whole journey
    assert (left.last_passed_journey, left.first_failed_journey) == (1, 4)
    assert "DELETE /api/reviews/rev_1 answered 401" in describe(left)


def test_without_a_failed_clean_up_the_first_creation_is_named_and_the_evidence_says_so():
    run = Run()
    run.journey(1, [step(0, "read_recent_reviews")])
    run.journey(2, [step(0, "post_review", cleanups=1)])
    run.journey(3, [step(0, "sign_up", tags=("t1",))])
    run.journey(4, list(READ_FAILS), fingerprint="fp")
    left = run.history.left_behind("fp", READ_FAILS)
    assert left.journey == 2 and "no failed clean-up" in left.evidence and "2 step(s)" in left.evidence


def test_the_first_failed_clean_up_after_the_last_pass_is_named_not_a_later_leftover():
    run = Run()
    run.journey(1, [step(0, "read_recent_reviews")])
    run.journey(2, [step(0, "post_review", cleanups=1), step(1, "log_out")], failed_cleanup_of=0)
    run.journey(3, [step(0, "post_review", cleanups=1), step(1, "log_out")], failed_cleanup_of=0)
    run.journey(4, list(READ_FAILS), fingerprint="fp")
    left = run.history.left_behind("fp", READ_FAILS)
    assert left.journey == 2 and "(2 before it first failed)" in left.evidence


def test_not_left_behind_when_the_action_never_passed_the_path_creates_or_nothing_was_created():
    never_passed = Run()
    never_passed.journey(1, [step(0, "post_review", cleanups=1)], failed_cleanup_of=0)
    never_passed.journey(2, list(READ_FAILS), fingerprint="fp")
    assert never_passed.history.left_behind("fp", READ_FAILS) is None

    creates = Run()
    creates.journey(1, [step(0, "read_recent_reviews")])
    creates.journey(2, [step(0, "post_review", cleanups=1)], failed_cleanup_of=0)
    path = (step(0, "post_review", cleanups=1), step(1, "read_recent_reviews", passed=False))
    creates.journey(3, list(path), fingerprint="fp")
    assert creates.history.left_behind("fp", path) is None  # its own path may explain it

    quiet = Run()
    quiet.journey(1, [step(0, "read_recent_reviews")])
    quiet.journey(2, [step(0, "browse_catalogue")])
    quiet.journey(3, list(READ_FAILS), fingerprint="fp")
    assert quiet.history.left_behind("fp", READ_FAILS) is None


def test_the_window_ends_at_the_first_failure_on_a_path_that_created_nothing():
    run = Run()
    run.journey(1, [step(0, "read_recent_reviews")])
    # Fails right after creating data itself: explained, so it does not end the window...
    run.journey(2, [step(0, "post_review", cleanups=1), step(1, "read_recent_reviews", passed=False)],
                fingerprint="fp")
    run.journey(3, [step(0, "post_review", cleanups=1), step(1, "log_out")], failed_cleanup_of=0)
    # ...this one does: the data journey 3 left is what it fails on.
    run.journey(4, list(READ_FAILS), fingerprint="fp")
    left = run.history.left_behind("fp", READ_FAILS)
    assert left.journey == 3 and left.first_failed_journey == 4


def test_a_creation_older_than_the_journeys_kept_whole_is_named_by_what_it_sent():
    """The history keeps few whole journeys; older creating steps without the answers they got."""
    from engine.records import RequestRecord
    sent = RequestRecord(method="POST", template="/api/reviews", path="/api/reviews", params=None,
                         json={"text": "hello"}, headers={}, status=201, response_json={"id": "rev_1"},
                         response_text='{"id": "rev_1"}' + " " * 4000, response_bytes=4016, elapsed_ms=1.0)
    creating = StepRecord(index=0, actor="alice", action="post_review", source="s", target="s", data={},
                          requests=(sent,), checks=(), outcome="passed", duration_ms=1.0, cleanups=1)
    run = Run()
    run.history = SessionHistory(keep_journeys=2)
    run.journey(1, [step(0, "read_recent_reviews")])
    run.journey(2, [creating])  # its clean-up answered (a failed one would keep the journey whole)
    run.journey(3, [step(0, "browse")])
    run.journey(4, [step(0, "browse")])  # journey 2 is no longer kept whole
    run.journey(5, list(READ_FAILS), fingerprint="fp")
    left = run.history.left_behind("fp", READ_FAILS)
    assert left is not None and left.journey == 2
    (walked,) = left.steps
    (request,) = walked.requests
    assert (request.method, request.path, request.json, request.status) == ("POST", "/api/reviews",
                                                                             {"text": "hello"}, 201)
    assert request.response_json is None and request.response_text == ""  # not kept for days


def test_creating_steps_are_kept_packed_by_the_chunk_and_forgotten_oldest_first():
    """Thousands of creating steps: the bound holds (whole chunks are dropped), the latest ones are
    all there in order, and a step from a packed chunk comes back as it was sent."""
    from engine.failures.left_behind import CREATIONS_PER_CHUNK, _CreationLog

    keep = 3 * CREATIONS_PER_CHUNK + 5
    log = _CreationLog(keep)
    made = 10 * CREATIONS_PER_CHUNK + 7
    for number in range(made):
        log.append(number, number, 0, step(0, f"create_{number}", cleanups=1), float(number))
    kept = list(log)
    assert keep <= len(kept) <= keep + 2 * CREATIONS_PER_CHUNK
    assert [c.sequence for c in kept] == list(range(made - len(kept), made))  # the latest, in order
    oldest, newest = kept[0], kept[-1]
    assert not isinstance(oldest.chunk.steps, list)  # a full chunk is packed
    assert (oldest.step.action, oldest.at) == (f"create_{oldest.sequence}", float(oldest.sequence))
    assert newest.step.action == f"create_{made - 1}"


def test_failed_clean_ups_of_creations_no_longer_kept_are_forgotten():
    """Four creating steps a journey, one clean-up failing: the failed clean-ups remembered are those
    of the creating steps still kept, not as many as there are creating steps."""
    from engine.failures.left_behind import CREATIONS_PER_CHUNK

    run = Run()
    run.history = SessionHistory(keep_creations=CREATIONS_PER_CHUNK)
    journeys = 6 * CREATIONS_PER_CHUNK
    for number in range(1, journeys + 1):
        run.journey(number, [step(i, "post_review", cleanups=1) for i in range(4)], failed_cleanup_of=0)
    remembered = run.history._failed_cleanups
    oldest = min(c.journey for c in run.history._creations)
    assert oldest > 1 and min(journey for journey, _ in remembered) >= oldest
    assert len(remembered) <= 3 * CREATIONS_PER_CHUNK // 4
    assert (journeys, 0) in remembered  # the latest is kept
