"""Actors' credentials named in the project file: journeys sign in as accounts made for them, and no
record (store, ledger, reports, reproductions, terminal) holds a credential's value."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from demo_shop import start_in_thread
from engine.store.reader import connect

from .conftest import ROOT, ServedDemo, run_journeys
from .library_app import Library

MODEL = str(ROOT / "tests" / "shop_accounts_model.py")
ACTORS = ("alice", "bob")


def provision(url: str, accounts: dict[str, tuple[str, str]]) -> None:
    """The accounts a production service would have made for the journeys (here: signed up by hand)."""
    with httpx.Client(base_url=url) as client:
        for actor, (email, password) in accounts.items():
            r = client.post("/api/signup", json={"name": actor, "email": email, "password": password})
            assert r.status_code == 201, r.text


def new_accounts() -> dict[str, tuple[str, str]]:
    return {actor: (f"qa-{actor}-{secrets.token_hex(4)}@corp.example", f"Pw-{secrets.token_urlsafe(12)}")
            for actor in ACTORS}


def environment(accounts) -> dict[str, str]:
    env = {}
    for actor, (email, password) in accounts.items():
        env[f"SHOP_{actor.upper()}_EMAIL"], env[f"SHOP_{actor.upper()}_PASSWORD"] = email, password
    return env


PROJECT = "\n".join(f'[credentials.{actor}]\nemail = "SHOP_{actor.upper()}_EMAIL"\n'
                    f'password = "SHOP_{actor.upper()}_PASSWORD"\n' for actor in ACTORS)


@pytest.fixture(scope="module")
def shop():
    served = ServedDemo()
    yield served
    served.stop()


def everything_written(folder: Path, store: Path) -> str:
    """Every row of every table and view of the store, and every other file the run wrote, as text."""
    texts = []
    connection = connect(str(store))
    for (name,) in connection.execute("SELECT table_name FROM information_schema.tables").fetchall():
        texts.append(repr(connection.execute(f'SELECT * FROM "{name}"').fetchall()))
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".parquet":
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


@pytest.mark.parametrize("seed", ["1", "2"])
def test_journeys_sign_in_as_the_accounts_named_and_no_record_holds_a_credential(tmp_path, shop, seed):
    accounts = new_accounts()
    provision(shop.url, accounts)
    env = environment(accounts)
    (tmp_path / "journeys.toml").write_text(PROJECT, encoding="utf-8")
    run = run_journeys("explore", MODEL, "--target", shop.url, "--journeys", "40", "--seed", seed,
                       "--store", "store", "--json", "report.json", "--heartbeat", "heartbeat.json",
                       "--examples-db", "examples", cwd=tmp_path, env_extra=env)
    assert run.returncode == 1, run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["credentials"] == [f"{a}.{n}=SHOP_{a.upper()}_{n.upper()}"
                                                 for a in ACTORS for n in ("email", "password")]
    found = {failure["fingerprint"]["check"]: failure for failure in report["failures"]}
    assert "an order is visible to its owner only" in found, list(found)  # signed in, as each account

    written = everything_written(tmp_path, tmp_path / "store") + run.stdout + run.stderr
    for value in env.values():
        assert value not in written
    assert "${SHOP_ALICE_EMAIL}" in written or "${SHOP_BOB_EMAIL}" in written  # what the records keep instead

    # The reproduction reads the credentials from the same variables, and fails while the bug is there.
    reproduction = next(path for path in (tmp_path / "reproductions").glob("test_view_order_*.py")
                        if "an order is visible to its owner only" in path.read_text(encoding="utf-8"))
    source = reproduction.read_text(encoding="utf-8")
    assert "secret('SHOP_ALICE_PASSWORD')" in source or "secret('SHOP_BOB_PASSWORD')" in source
    assert run_pytest(reproduction, shop.url, env).returncode == 1
    curl = run_journeys("export", found["an order is visible to its owner only"]["id"], "--format", "curl",
                        "--store", "store", cwd=tmp_path)
    assert curl.returncode == 0 and re.search(r"\$\{SHOP_(ALICE|BOB)_PASSWORD:-", curl.stdout), curl.stderr
    assert not any(value in curl.stdout for value in env.values())
    fixed = ServedDemo("--no-bugs")
    try:
        provision(fixed.url, accounts)  # the same accounts on a fixed build
        passed = run_pytest(reproduction, fixed.url, env)
        assert passed.returncode == 0, passed.stdout[-2000:]
    finally:
        fixed.stop()


def run_pytest(path: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=path.parent,
                          env={"JOURNEYS_TARGET": url, "PATH": "/usr/bin:/bin", **env})


@pytest.mark.parametrize("args, env_remove, says", [
    (("--credential", "carol.password=SHOP_ALICE_PASSWORD"), (),
     "credentials.carol.password: model 'shop-accounts' has no actor 'carol' (its actors: alice, bob)"),
    (("--credential", "alice.password=SHOP_ALICE_PASSWORD"), ("SHOP_ALICE_PASSWORD",),
     "credentials.alice.password: the environment variable SHOP_ALICE_PASSWORD is not set"),
    (("--credential", "alice.password"), (), "--credential"),
    (("--credential", "alice.password=hunter 2"), (), "never the credential itself"),
    (("--credential", "alice.password=SHOP_ALICE_PASSWORD"), (),
     "action 'log_in' asks for credential 'email' of actor"),
])
def test_a_credential_that_cannot_be_used_is_one_line_exit_2(tmp_path, shop, args, env_remove, says):
    env = {k: v for k, v in environment(new_accounts()).items() if k not in env_remove}
    run = run_journeys("explore", MODEL, "--target", shop.url, "--journeys", "3", "--no-store",
                       "--no-examples-db", *args, cwd=tmp_path, env_extra=env, env_remove=env_remove)
    assert run.returncode == 2, (run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr and says in run.stderr, run.stderr
    if "asks for credential" in says:  # met during the walk: the fix is named
        assert "[credentials.alice] email" in run.stderr or "[credentials.bob] email" in run.stderr


def test_config_check_names_each_credential_variable_never_its_value(tmp_path):
    env = environment(new_accounts())
    (tmp_path / "journeys.toml").write_text(PROJECT, encoding="utf-8")
    check = run_journeys("config", "check", cwd=tmp_path, env_extra=env)
    assert check.returncode == 0, check.stderr
    lines = {line.split()[0]: line for line in check.stdout.splitlines() if line.strip()}
    assert "$SHOP_BOB_PASSWORD (set)" in lines["credentials.bob.password"]
    assert not any(value in check.stdout for value in env.values())


def test_a_project_file_variable_that_is_not_set_stops_explore_naming_the_key(tmp_path, shop):
    env = environment(new_accounts())
    del env["SHOP_BOB_PASSWORD"]
    (tmp_path / "journeys.toml").write_text(PROJECT, encoding="utf-8")
    run = run_journeys("explore", MODEL, "--target", shop.url, "--no-store", cwd=tmp_path, env_extra=env,
                       env_remove=("SHOP_BOB_PASSWORD",))
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(errors) == 1, run.stderr
    assert "credentials.bob.password: the environment variable SHOP_BOB_PASSWORD is not set" in errors[0]
    check = run_journeys("config", "check", cwd=tmp_path, env_extra=env, env_remove=("SHOP_BOB_PASSWORD",))
    assert "NOT SET" in check.stdout  # config check says so too; export and report are not held up by it


def test_members_of_a_library_sign_in_with_tokens_named_and_no_record_holds_one(tmp_path):
    """The second target: bearer tokens as credentials (a header, not a body), on the test library."""
    library = Library(bugs=("loan_owner",))
    url, stop = start_in_thread(library)
    try:
        env = {}
        for actor in ("ann", "ben"):
            joined = httpx.post(f"{url}/api/members", json={"name": actor}).json()
            env[f"LIB_{actor.upper()}_TOKEN"], env[f"LIB_{actor.upper()}_ID"] = joined["token"], joined["id"]
        (tmp_path / "journeys.toml").write_text("\n".join(
            f'[credentials.{actor}]\ntoken = "LIB_{actor.upper()}_TOKEN"\nmember_id = "LIB_{actor.upper()}_ID"\n'
            for actor in ("ann", "ben")), encoding="utf-8")
        run = run_journeys("explore", str(ROOT / "tests" / "library_members_model.py"), "--target", url,
                           "--journeys", "30", "--seed", "3", "--store", "store", "--json", "report.json",
                           "--no-examples-db", cwd=tmp_path, env_extra=env)
        assert run.returncode == 1, run.stderr[-3000:]
        report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
        assert [f["fingerprint"]["check"] for f in report["failures"]] == ["a loan is visible to its borrower only"]
        tokens = [env["LIB_ANN_TOKEN"], env["LIB_BEN_TOKEN"]]
        written = everything_written(tmp_path, tmp_path / "store") + run.stdout + run.stderr
        assert not any(token in written for token in tokens)
        reproduction = next((tmp_path / "reproductions").glob("test_view_loan_*.py"))
        assert re.search(r"secret\('LIB_(ANN|BEN)_TOKEN'\)", reproduction.read_text(encoding="utf-8"))
        assert run_pytest(reproduction, url, env).returncode == 1  # as the same members, while the bug is there
        library.bugs = ()  # the fix deployed: same members, same tokens
        fixed = run_pytest(reproduction, url, env)
        assert fixed.returncode == 0, fixed.stdout[-2000:]
    finally:
        stop()
