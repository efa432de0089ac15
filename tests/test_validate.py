"""`journeys validate` and `journeys graph`: every model problem at once, exit 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from engine.model.loader import load_model
from engine.model.validate import problems

GOOD_HEADER = """
from hypothesis import strategies as st
from engine import Model
"""


def write_model(tmp_path, body: str, name: str = "model_under_test.py"):
    path = tmp_path / name
    path.write_text(GOOD_HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


BROKEN = """
model = Model("broken", states=["anonymous", "signed_in", "limbo", "stuck"], start="anonymous")

@model.action(source="anonymous", target="signed_in", data={"email": "not a strategy"})
def sign_up(step, email):
    pass

@model.action(source="signed_in", target="paid")
def checkout(step):
    pass

@model.action(source="signed_in", target="anonymous")
def sign_up(step):
    pass

@model.action(source="nowhere", target="stuck")
def wander(step):
    pass
"""


def test_every_kind_of_problem_is_reported_with_file_action_and_fix(tmp_path):
    path = write_model(tmp_path, BROKEN)
    found = [str(p) for p in problems(load_model(str(path)))]
    text = "\n".join(found)
    assert "action 'sign_up': data 'email' is 'not a strategy' (a str), not a Hypothesis strategy" in text
    assert "st.just" in text
    assert "action 'checkout': target state 'paid' is not declared" in text
    assert "action 'sign_up': the name is already used by the action at line" in text
    assert "action 'wander': source state 'nowhere' is not declared" in text
    assert "state 'limbo' cannot be reached from the start state 'anonymous'" in text
    assert "state 'stuck' cannot be reached" in text
    assert all("model_under_test.py:" in line for line in found)


def test_dead_end_state_must_be_marked_terminal(tmp_path):
    path = write_model(tmp_path, """
        model = Model("m", states=["a", "b"], start="a")

        @model.action(source="a", target="b")
        def go(step):
            pass
    """)
    assert [p.message for p in problems(load_model(str(path)))] == [
        "state 'b' has no way out and is not marked terminal"]
    fixed = write_model(tmp_path, """
        model = Model("m", states=["a", "b"], start="a", terminal=["b"])

        @model.action(source="a", target="b")
        def go(step):
            pass
    """, name="fixed.py")
    assert problems(load_model(str(fixed))) == []


def test_function_must_accept_its_data(tmp_path):
    path = write_model(tmp_path, """
        model = Model("m", states=["a"], start="a")

        @model.action(source="a", target=None, data={"n": st.integers()})
        def go(step):
            pass
    """)
    (problem,) = problems(load_model(str(path)))
    assert "cannot take its data" in problem.message and "def go(step, n)" in problem.fix


def test_validate_cli_lists_all_problems_and_exits_2(tmp_path):
    path = write_model(tmp_path, BROKEN)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "6 problem(s)" in result.stderr
    assert result.stderr.count("model_under_test.py:") >= 6


def test_validate_cli_accepts_the_demo_model():
    result = run_cli("validate", "models/shop.py")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


@pytest.mark.parametrize("content, expected", [
    ("def broken(:\n", "syntax error"),
    ("raise RuntimeError('boom')\n", "RuntimeError: boom (while loading the model)"),
    ("x = 1\n", "no journey model found"),
])
def test_unloadable_models_give_one_line_and_exit_2(tmp_path, content, expected):
    path = tmp_path / "bad.py"
    path.write_text(content)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_file(tmp_path):
    result = run_cli("explore", str(tmp_path / "nope.py"), "--target", "demo")
    assert result.returncode == 2
    assert "not found" in result.stderr and "Traceback" not in result.stderr


def test_graph_mermaid_and_dot():
    mermaid = run_cli("graph", "models/shop.py", "--format", "mermaid")
    assert mermaid.returncode == 0
    assert mermaid.stdout.startswith("stateDiagram-v2")
    assert "anonymous --> signed_in: sign_up" in mermaid.stdout
    assert "has_cart --> ordered: checkout" in mermaid.stdout
    dot = run_cli("graph", "models/shop.py", "--format", "dot")
    assert dot.returncode == 0
    assert '"has_cart" -> "ordered" [label="checkout"];' in dot.stdout
    bad = run_cli("graph", "models/shop.py", "--format", "bmp")
    assert bad.returncode == 2
