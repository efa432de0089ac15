"""Claims between workers: a worker that exited after reporting a failure keeps it; one that died
while investigating leaves it to the others. Each worker here is a real process that claims and exits.

A CI run once had two workers report one failure: the first finished its share and exited, the
second then met the failure before it had read it from the store, found the claim's process gone,
and took the claim over as if the first had crashed."""

from __future__ import annotations

import subprocess
import sys

from engine.walk.claims import Claims

from .conftest import ROOT

WORKER = """
import sys
from engine.walk.claims import Claims, RedisClaims
where, fingerprint, report = sys.argv[1:]
claims = RedisClaims(where, group="g", worker="1/2") if where.startswith("redis://") else Claims(where, worker="1/2")
if report == "ask":
    sys.exit(0 if claims.claim(fingerprint) else 3)
assert claims.claim(fingerprint)
if report == "reported":
    claims.done(fingerprint)
"""


def exited_worker(where, fingerprint: str, report: str) -> int:
    return subprocess.run([sys.executable, "-c", WORKER, str(where), fingerprint, report], cwd=ROOT,
                          timeout=60).returncode


def claimed_by_another_process(where, fingerprint: str) -> bool:
    return exited_worker(where, fingerprint, "ask") == 0


def test_a_reported_failure_stays_with_its_worker_after_it_exited(tmp_path):
    assert exited_worker(tmp_path, "f00d", "reported") == 0
    other = Claims(tmp_path, worker="2/2")
    assert not other.claim("f00d") and other.holder("f00d")["done"]
    assert not other.claim("f00d")  # asked again: still not its own


def test_a_failure_whose_worker_died_investigating_it_is_taken_over(tmp_path):
    exited_worker(tmp_path, "dead", "investigating")
    other = Claims(tmp_path, worker="2/2")
    assert other.claim("dead") and other.holder("dead")["worker"] == "2/2"
    assert not claimed_by_another_process(tmp_path, "dead")  # this process lives: it keeps it
    other.done("dead")
    assert other.holder("dead")["done"] and not claimed_by_another_process(tmp_path, "dead")


def test_done_marks_only_a_claim_of_ones_own(tmp_path):
    exited_worker(tmp_path, "beef", "investigating")
    other = Claims(tmp_path, worker="2/2")
    other.done("beef")  # not its claim: nothing changes, so a later worker may still take it over
    assert not other.holder("beef").get("done") and claimed_by_another_process(tmp_path, "beef")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beef.json"]  # no draft left beside it


def test_a_reported_failure_in_redis_outlives_the_investigation_ttl(redis_url):
    url, client = redis_url
    exited_worker(url, "cafe", "reported")
    from engine.walk.claims import RedisClaims

    other = RedisClaims(url, group="g", worker="2/2")
    assert not other.claim("cafe") and other.holder("cafe")["done"]
    assert client.ttl("journeys:claim:g:cafe") > other.ttl_s
