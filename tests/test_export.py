"""The pytest exporter: values from earlier responses are captured, not hard-coded."""

from __future__ import annotations

from engine.export_pytest import render_pytest
from engine.records import CheckRecord, Failure, Fingerprint, RequestRecord, StepRecord


def request(method, path, *, json=None, headers=None, status=200, response=None):
    return RequestRecord(method=method, template=path, path=path, params=None, json=json,
                         headers=headers or {}, status=status, response_json=response, response_text="",
                         response_bytes=0, elapsed_ms=1.0)


def test_tokens_ids_and_tags_come_from_the_run_not_the_file():
    sign_up = StepRecord(
        index=0, actor="alice", action="sign_up", source="anonymous", target="signed_in",
        data={"email": "a@example.com"}, tags=("jyabc123x1",), outcome="passed", duration_ms=1,
        requests=(request("POST", "/api/signup", json={"email": "a+jyabc123x1@example.com"}, status=201,
                          response={"token": "tok_secretvalue", "user_id": "usr_0123456789"}),),
        checks=(CheckRecord(name="status is 201", kind="status", passed=True, expected=[201], actual=201,
                            message="", response=0),))
    view = StepRecord(
        index=1, actor="alice", action="view_me", source="signed_in", target="signed_in", data={},
        outcome="failed", duration_ms=1,
        requests=(request("GET", "/api/users/usr_0123456789",
                          headers={"Authorization": "Bearer tok_secretvalue"}, status=500),),
        checks=(CheckRecord(name="status is 200", kind="status", passed=False, expected=[200], actual=500,
                            message="status is 200: expected status 200, got 500", response=0),))
    failure = Failure(fingerprint=Fingerprint("view_me", "status is 200", "5xx"), kind="regression",
                      message="status is 200: expected status 200, got 500", steps=(sign_up, view),
                      replays_failed=5, replays_run=5, found_in_journey=1, seed=1, tool_version="0.1.0")
    source = render_pytest(failure, model="m", target="demo")
    compile(source, "reproduction.py", "exec")
    assert "tok_secretvalue" not in source
    assert "usr_0123456789" not in source
    assert "jyabc123x1" not in source
    assert "'a+' + tag1 + '@example.com'" in source
    assert "'/api/users/' + r1.json()['user_id']" in source
    assert "'Bearer ' + r1.json()['token']" in source
    assert source.rstrip().splitlines()[-1].strip().startswith("assert r2.status_code == 200")
