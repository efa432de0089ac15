"""A field check means the same wherever it is evaluated: in the walk, in the exported pytest file
and in the curl script's helpers; ``*`` in a path reads every element of a list
("reviews.*.id"), and ``contains`` / ``excludes`` ask whether a value is among them."""

from __future__ import annotations

import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.export import curl_helpers
from engine.export.pytest_file import EACH_HELPER, _render_check
from engine.export.script import ScriptCheck
from engine.model import checks

SCALARS = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "rev_1"]), st.none())
BODIES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["id", "items", "n"]), inner, max_size=3)),
    max_leaves=12)
PATHS = st.lists(st.one_of(st.sampled_from(["id", "items", "n", checks.EACH]), st.integers(0, 2)),
                 min_size=1, max_size=4)
OPS = st.sampled_from(sorted(checks.OPERATORS))


def pytest_file_each(value):
    """The ``each`` helper an exported pytest file defines, run as that file runs it."""
    namespace: dict = {}
    exec("\n".join(EACH_HELPER), namespace)  # noqa: S102 (our own helper's source)
    return namespace["each"](value)


def response(body) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_each_reads_every_element_and_the_new_operators_ask_membership():
    r = response({"reviews": [{"id": "rev_1"}, {"id": "rev_2"}]})
    gone = checks.field_check(r, "reviews.*.id", "excludes", "rev_2", name="gone", index=0, source="action")
    assert not gone.passed and gone.actual == ["rev_1", "rev_2"]
    assert "expected reviews.*.id excludes 'rev_2', got ['rev_1', 'rev_2']" in gone.message
    assert checks.field_check(r, "reviews.*.id", "contains", "rev_2", name=None, index=0, source="a").passed
    assert checks.field_check(r, "reviews.*.id", "excludes", "rev_3", name=None, index=0, source="a").passed
    # An element without the rest of the path makes the field missing, as a plain path would.
    partial = response({"reviews": [{"id": "rev_1"}, {"text": "no id"}]})
    missing = checks.field_check(partial, "reviews.*.id", "excludes", "rev_3", name=None, index=0, source="a")
    assert not missing.passed and "is missing from the response" in missing.message


def test_a_long_value_is_quoted_shortened_in_the_message():
    r = response({"reviews": [{"id": f"rev_{n:04d}"} for n in range(500)]})
    record = checks.field_check(r, "reviews.*.id", "excludes", "rev_0001", name=None, index=0, source="a")
    assert not record.passed and len(record.message) < 500 and record.message.endswith("…")


@settings(max_examples=1000, deadline=None)
@given(body=BODIES, path=PATHS, op=OPS, value=SCALARS)
def test_walk_pytest_file_and_curl_helpers_agree(tmp_path_factory, body, path, op, value):
    engine = checks.field_check(response(body), path, op, value, name="n", index=0, source="action").passed

    check = ScriptCheck(record=checks.field_check(response(body), path, op, value, name="n", index=1,
                                                  source="action"), role="final", response=1, expected=value)
    line = _render_check(check)
    assert line.startswith("assert ")
    condition = line[len("assert "):].rpartition(", f\"")[0]

    class Answer:
        status_code = 200
        text = json.dumps(body)

        @staticmethod
        def json():
            return json.loads(json.dumps(body))

    try:
        in_file = bool(eval(condition, {"r1": Answer, "each": pytest_file_each}))  # noqa: S307 (our own line)
    except (LookupError, TypeError):
        in_file = False  # the test errors: it does not pass

    body_file = tmp_path_factory.mktemp("body") / "r1.json"
    body_file.write_text(json.dumps(body), encoding="utf-8")
    in_curl = curl_helpers.check_field(str(body_file), "n", json.dumps(path), op, json.dumps(value)) == 0
    assert engine == in_file == in_curl, (condition, body, path, op, value)
