"""The project file: settings kept beside the model, each one a flag too; every mistake one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT


def journeys(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "COLUMNS": "200", **(env or {})})


PROJECT = f'''
model = "{ROOT / "models" / "shop.py"}"
target = "${{SHOP_TARGET}}"
journeys = 12
max_steps = 8
seed = 4
examples_db = ".journeys/examples"

[rate]
limit = "400/s"
timezone = "Europe/Berlin"
schedule = ["sat 02:00-04:00 300/s"]  # a window, never a pause: the test runs at any hour

[breaker]
after = 7

[masks]
fields = ["customer_name"]

[recheck]
every = "30m"
times = 2
'''


def test_a_project_file_sets_the_run_and_flags_override_it(tmp_path):
    (tmp_path / "journeys.toml").write_text(PROJECT, encoding="utf-8")
    run = journeys("explore", "--journeys", "5", "--json", "report.json", cwd=tmp_path, env={"SHOP_TARGET": "demo"})
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    settings = report["settings"]
    assert report["journeys"] == 5 and settings["journeys"] == 5  # the flag won
    assert settings["max_steps"] == 8 and report["seed"] == 4 and settings["rate"] == "400/s"
    assert settings["timezone"] == "Europe/Berlin" and settings["schedule"] == ["sat 02:00-04:00 300/s"]
    assert settings["breaker"]["consecutive"] == 7 and settings["mask_fields"] == ["customer_name"]
    assert settings["recheck_every_s"] == 1800 and settings["recheck_times"] == 2
    assert report["target"] == "demo (in-process)"


def test_config_check_prints_the_effective_settings_with_where_they_come_from(tmp_path):
    (tmp_path / "journeys.toml").write_text(PROJECT, encoding="utf-8")
    check = journeys("config", "check", cwd=tmp_path, env={"SHOP_TARGET": "https://user:pw@shop.example.com"})
    assert check.returncode == 0, check.stderr
    lines = {line.split()[0]: line for line in check.stdout.splitlines() if line.strip()}
    assert "400/s" in lines["rate.limit"] and "journeys.toml" in lines["rate.limit"]
    assert "default" in lines["replays"] and "5" in lines["replays"]
    assert "pw@" not in check.stdout and "***" in lines["target"]  # it came from the environment


@pytest.mark.parametrize("text, says", [
    ('jouneys = 3', "unknown key 'jouneys'"),
    ('[rate]\nlimt = "5/s"', "unknown key 'rate.limt'; [rate] knows: limit, schedule, timezone"),
    ('[rate]\nlimit = "5 per second"', "rate.limit = '5 per second'"),
    ('[rate]\nschedule = ["weekdays 8-20 2/s"]', "rate.schedule"),
    ('[rate]\ntimezone = "Mars/Base"', "rate.timezone"),
    ('target = "${NOT_SET_ANYWHERE}"', "the environment variable NOT_SET_ANYWHERE is not set"),
    ('journeys = "many"', "journeys = 'many'"),
    ('[breaker]\nenabled = "yes"', "breaker.enabled = 'yes': write true or false"),
    ('[recheck]\nenabled = "no"', "recheck.enabled = 'no': write true or false"),
    ('[alerts]\nslack = "x"', "unknown key 'alerts.slack'"),
    ('journeys = [', "not valid TOML"),
    ('[credentials.alice]\npassword = "hunter 2"', "credentials.alice.password = 'hunter 2': write the name of the"),
    ('[credentials]\nalice = "SHOP_ALICE_PASSWORD"', "credentials.alice = 'SHOP_ALICE_PASSWORD': write a table"),
    ('[credentials.alice]\npassword = 12', "credentials.alice.password = 12: write the name"),
])
def test_every_mistake_is_one_line_naming_the_key_exit_2(tmp_path, text, says):
    (tmp_path / "journeys.toml").write_text(text, encoding="utf-8")
    for args in (("config", "check"), ("explore", str(ROOT / "models" / "shop.py"), "--target", "demo")):
        result = journeys(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and "journeys.toml" in errors[0] and says in errors[0], errors


def test_without_a_model_anywhere_explore_says_where_to_give_it(tmp_path):
    result = journeys("explore", "--target", "demo", cwd=tmp_path)
    assert result.returncode == 2 and "MODEL" in result.stderr and "journeys.toml" in result.stderr
