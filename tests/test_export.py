"""The pytest exporter renders the recorded links: values from earlier responses are taken
from those responses at run time, drawn values are written as drawn, secrets never."""

from __future__ import annotations

import attrs

from engine.export.pytest_file import render_pytest
from engine.records import CheckRecord, Failure, Fingerprint, RequestRecord, StepRecord


def request(method, template, *, path_vars=None, json=None, headers=None, status=200, response=None, links=()):
    path = template.format_map(path_vars or {})
    return RequestRecord(method=method, template=template, path=path, params=None, json=json,
                         headers=headers or {}, status=status, response_json=response, response_text="",
                         response_bytes=0, elapsed_ms=1.0, path_vars=path_vars, links=tuple(links))


def link(at, step, path, request=0, prefix=""):
    return {"at": list(at), "step": step, "request": request, "path": list(path), "prefix": prefix}


def failure_of(*steps):
    last = steps[-1].checks[-1]
    return Failure(fingerprint=Fingerprint(steps[-1].action, last.name, "5xx"), kind="regression",
                   message=last.message, steps=steps, replays_failed=5, replays_run=5, found_in_journey=1,
                   seed=1, tool_version="0.1.0")


def status(code, passed=True, actual=None):
    return CheckRecord(name=f"status is {code}", kind="status", passed=passed, expected=[code],
                       actual=actual or code, message=f"status is {code}: expected status {code}, got {actual}",
                       response=0)


SIGN_UP = StepRecord(
    index=0, actor="alice", action="sign_up", source="anonymous", target="signed_in",
    data={"email": "a@example.com", "password": "hunter2hunter2"}, tags=("jyabc123x1",), outcome="passed",
    duration_ms=1,
    requests=(request("POST", "/api/signup", json={"email": "a+jyabc123x1@example.com", "password": "hunter2hunter2"},
                      status=201, response={"token": "tok_secretvalue", "user_id": "usr_0123456789", "n": 7}),),
    checks=(status(201),))


def test_links_become_expressions_and_nothing_of_the_run_is_written():
    view = StepRecord(
        index=1, actor="alice", action="view_me", source="signed_in", target="signed_in", data={},
        outcome="failed", duration_ms=1,
        requests=(request("GET", "/api/users/{user_id}", path_vars={"user_id": "usr_0123456789"},
                          headers={"Authorization": "Bearer tok_secretvalue"}, status=500,
                          links=[link(("path", "user_id"), 0, ["user_id"]),
                                 link(("headers", "Authorization"), 0, ["token"], prefix="Bearer ")]),),
        checks=(status(200, passed=False, actual=500),))
    source = render_pytest(failure_of(SIGN_UP, view), model="m", target="demo")
    compile(source, "reproduction.py", "exec")
    for literal in ("tok_secretvalue", "usr_0123456789", "jyabc123x1", "hunter2"):
        assert literal not in source
    assert "'a+' + tag1 + '@example.com'" in source
    assert "path('/api/users/{user_id}', user_id=r1.json()['user_id'])" in source
    assert "'Bearer ' + r1.json()['token']" in source
    assert "secret('JOURNEYS_SECRET_PASSWORD')" in source
    assert source.rstrip().splitlines()[-1].strip().startswith("assert r2.status_code == 200")


def test_a_drawn_value_equal_to_a_response_field_is_written_as_drawn():
    """No guess from equal values: only a recorded link makes a run-time value."""
    search = StepRecord(
        index=1, actor="alice", action="search", source="signed_in", target="signed_in",
        data={"q": "usr_0123456789", "count": 7}, outcome="failed", duration_ms=1,
        requests=(request("POST", "/api/search", json={"q": "usr_0123456789", "count": 7, "n": 7}, status=500,
                          links=[link(("json", "n"), 0, ["n"])]),),
        checks=(status(200, passed=False, actual=500),))
    source = render_pytest(failure_of(SIGN_UP, search), model="m", target="demo")
    assert "json={'q': 'usr_0123456789', 'count': 7, 'n': r1.json()['n']}" in source


def test_an_unlinked_secret_header_is_read_from_the_environment():
    """A header the model set itself (Basic auth, an API key) never reaches the file."""
    view = StepRecord(
        index=0, actor="alice", action="view", source="anonymous", target="anonymous", data={},
        outcome="failed", duration_ms=1,
        requests=(request("GET", "/api/me", headers={"Authorization": "Basic YWxpY2U6czNjcjN0", "X-Api-Key": "k-123"},
                          status=500),),
        checks=(status(200, passed=False, actual=500),))
    source = render_pytest(failure_of(view), model="m", target="demo")
    assert "YWxpY2U6czNjcjN0" not in source and "k-123" not in source
    assert "secret('JOURNEYS_SECRET_AUTHORIZATION')" in source and "secret('JOURNEYS_SECRET_X_API_KEY')" in source


def test_clean_ups_run_in_finally_and_a_withdrawn_one_is_left_out():
    from engine.export.script import build_script

    cleanup = {"method": "DELETE", "template": "/api/reviews/{review_id}", "path_vars": {"review_id": "rev_1"},
               "headers": {}, "links": [link(("path", "review_id"), 1, ["id"])]}
    post = StepRecord(index=1, actor="alice", action="post_review", source="signed_in", target="signed_in",
                      data={}, outcome="passed", duration_ms=1, cleanups=1, cleanup_requests=(cleanup,),
                      requests=(request("POST", "/api/reviews", json={"text": "x"}, status=201,
                                        response={"id": "rev_1"}),), checks=(status(201),))
    read = StepRecord(index=2, actor="alice", action="read", source="signed_in", target="signed_in", data={},
                      outcome="failed", duration_ms=1, requests=(request("GET", "/api/reviews", status=500),),
                      checks=(status(200, passed=False, actual=500),))
    source = render_pytest(failure_of(SIGN_UP, post, read), model="m", target="demo")
    compile(source, "reproduction.py", "exec")
    assert "cleanups.append(lambda: client_alice.delete(path('/api/reviews/{review_id}', review_id=r2.json()['id'])" \
        in source and "finally:" in source
    withdrawn = attrs.evolve(read, cancelled_cleanups=((1, 0),))
    script = build_script(failure_of(SIGN_UP, post, withdrawn))
    assert [step.cleanups for step in script.steps] == [(), (), ()]
