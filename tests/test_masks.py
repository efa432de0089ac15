"""Real users' data stays out of what journeys keeps: a response that names another person (a
real-looking email, phone number and name) is masked in the store, the reports, the exports
and the terminal, while the walk still sees it."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb

from demo_shop import DemoShop, start_in_thread

from .conftest import ROOT

PLANTED = {"contact_name": "Maria Lopez-Garrido", "email": "maria.lopez.garrido@gmail.com",
           "phone": "+34 612 345 678"}
NEEDLES = ("Maria Lopez", "maria.lopez", "612 345 678")


class Planting:
    """Adds another person's contact to the catalogue, as a real listing might."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        if environ.get("PATH_INFO") == "/api/products" and body:
            data = json.loads(body)
            data["support"] = dict(PLANTED)
            body = json.dumps(data).encode()
        headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in captured["headers"]]
        start_response(captured["status"], headers)
        return [body]


def journeys(*args, cwd):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_another_persons_data_is_nowhere_in_what_journeys_wrote(tmp_path):
    url, stop = start_in_thread(Planting(DemoShop(bugs=True, seed=0)))
    try:
        run = journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", "3",
                       "--journeys", "60", "--no-examples-db", "--json", "report.json",
                       "--mask-field", "contact_name", cwd=tmp_path)
    finally:
        stop()
    assert run.returncode == 1, run.stderr[-2000:]
    report = (tmp_path / "report.json").read_text(encoding="utf-8")
    failures = json.loads(report)["failures"]
    # The catalogue's response was recorded (its copy-change failure), with the contact masked.
    catalogue = next(f for f in failures if f["fingerprint"]["action"] == "browse_catalogue")
    support = catalogue["steps"][-1]["requests"][0]["response_json"]["support"]
    assert support == {"contact_name": "***", "email": "***@***", "phone": "***"}
    written = [run.stdout, run.stderr, report]
    for failure in failures:
        written.append(journeys("show", failure["id"], cwd=tmp_path).stdout)
        for form in ("pytest", "curl", "json"):
            written.append(journeys("export", failure["id"], "--format", form, cwd=tmp_path).stdout)
    written += [path.read_text(encoding="utf-8") for path in (tmp_path / "reproductions").glob("*")]
    store = tmp_path / "journeys-store"
    connection = duckdb.connect()
    for table in store.iterdir():
        if table.is_dir() and list(table.glob("*.parquet")):
            rows = connection.execute(f"SELECT * FROM read_parquet('{table}/*.parquet', union_by_name=true)")
            written.append(json.dumps(rows.fetchall(), default=str))
    for text in written:
        for needle in NEEDLES:
            assert needle not in text, (needle, text[max(0, text.find(needle) - 200):text.find(needle) + 100])
