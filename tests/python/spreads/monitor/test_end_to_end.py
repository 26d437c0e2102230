"""`ingest spreads` in a subprocess against `ingest serve-bitso` in another, as in production."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import requests

ROOT = Path(__file__).resolve().parents[4]
INGEST = [sys.executable, "-c", "from ingest.cli import cli; cli(prog_name='ingest')"]


def environment(lake: Path, api_url: str, ws_url: str = "") -> dict[str, str]:
    env = dict(os.environ, BITSO_LAKE=str(lake), BITSO_API_URL=api_url, BITSO_WS_URL=ws_url)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("BITSO_WEBHOOKS", None)
    return env


class Server:
    def __init__(self, tmp_path: Path, script: dict | None = None) -> None:
        args = [*INGEST, "serve-bitso", "--port", "0", "--duration", "300", "--ka-interval", "1"]
        if script is not None:
            path = tmp_path / "script.json"
            path.write_text(json.dumps(script))
            args += ["--script", str(path)]
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=environment(tmp_path, ""),
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        assert ready, "the local server did not start"
        banner = self.process.stdout.readline().split()
        self.url, self.ws_url = banner[4], banner[-1]
        self.started = time.monotonic()

    def post(self, route: str, body: dict) -> None:
        requests.post(f"{self.url}/_local/{route}", json=body, timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_local/stats", timeout=5).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def start(script=None):
        servers.append(Server(tmp_path, script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def start_monitor(lake: Path, server: Server, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*INGEST, "spreads", "--books", "btc_mxn,usd_mxn", *args],
        cwd=ROOT,
        env=environment(lake, server.url, server.ws_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, err
    return out, err


def lake_rows(lake: Path, fmt: str = "csv") -> list[dict]:
    if fmt == "parquet":
        relation = duckdb.sql(
            f"select * exclude (date) from read_parquet('{lake}/spreads/*/*/*.parquet', "
            "hive_partitioning = true) order by book, orderbook_timestamp"
        )
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    rows = []
    for path in sorted(lake.glob("spreads/book=*/date=*/*.csv")):
        with path.open(newline="") as handle:
            rows += [dict(row, file=path) for row in csv.DictReader(handle)]
    return rows


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def journal_seconds(lake: Path) -> list[str]:
    lines = []
    for path in (lake / "spreads" / "_partial").glob("*.partial"):
        lines += [line.split(",")[0] for line in path.read_text().splitlines()[1:] if line]
    return lines


def test_scripted_spreads_give_partitioned_windows_and_exactly_the_scripted_alerts(
    tmp_path, server_factory, webhook_receiver
):
    script = {
        "books": {
            "btc_mxn": [
                {"at": 0, "spread": "0.05"},
                {"at": 5, "spread": "0.7"},
                {"at": 8, "spread": "1.5"},
                {"at": 11, "spread": "0.3"},
                {"at": 14, "spread": "0.05"},
            ]
        }
    }
    server = server_factory(script)
    lake = tmp_path / "lake"
    monitor = start_monitor(
        lake,
        server,
        "--source",
        "rest",
        "--window",
        "5",
        "--duration",
        "18",
        "--webhook",
        webhook_receiver.url,
    )
    out, err = finish(monitor)
    expected = [
        ("triggered", "0.5"),
        ("triggered", "0.1"),
        ("triggered", "1.0"),
        ("resolved", "1.0"),
        ("resolved", "0.5"),
        ("resolved", "0.1"),
    ]
    alerts_file = next(lake.glob("alerts/date=*/alerts.jsonl"))
    filed = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert [(a["state"], a["threshold"]) for a in filed] == expected
    assert {a["book"] for a in filed} == {"btc_mxn"}
    assert webhook_receiver.wait_for(6) == filed
    assert "is above 0.5 %" in filed[0]["text"]
    assert len([line for line in err.splitlines() if "ALERT" in line]) == 6
    assert "SECRET" not in err + out

    rows = lake_rows(lake)
    for book in ("btc_mxn", "usd_mxn"):
        seconds = [row["orderbook_timestamp"] for row in rows if row["book"] == book]
        assert len(seconds) == 18 and len(set(seconds)) == 18
        per_file = Counter(row["file"] for row in rows if row["book"] == book)
        # Every window the run covered entirely holds exactly 5 records.
        in_window_order = [per_file[path] for path in sorted(per_file)]
        assert in_window_order[1:-1] == [5] * (len(per_file) - 2)
        for path in per_file:
            assert (
                path.parent.name.startswith("date=") and path.parent.parent.name == f"book={book}"
            )
    assert list(rows[0])[:5] == ["orderbook_timestamp", "book", "bid", "ask", "spread"]
    assert not [row for row in rows if row["is_gap"] == "true"]
    assert "36 records (0 gaps) over 18 seconds" in out
    stats = server.stats()
    assert stats["rate_limited"] == 0 and stats["max_requests_in_60s"] <= 50


def test_kill_9_mid_window_then_restart_loses_only_the_downtime_and_duplicates_nothing(
    tmp_path, server_factory
):
    server = server_factory()
    lake = tmp_path / "lake"
    first = start_monitor(lake, server, "--window", "10", "--format", "parquet", "--source", "rest")
    wait_until(lambda: len(journal_seconds(lake)) >= 8, 20, "four seconds in the journal")
    wait_until(lambda: 3 <= int(time.time()) % 10 <= 6, 10, "the middle of a window")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    before_kill = set(journal_seconds(lake))
    second = start_monitor(
        lake, server, "--window", "10", "--format", "parquet", "--duration", "6", "--source", "rest"
    )
    finish(second)

    rows = lake_rows(lake, "parquet")
    keys = [(row["book"], row["orderbook_timestamp"]) for row in rows]
    assert len(keys) == len(set(keys)), "duplicate rows after the restart"
    assert before_kill <= {stamp for _, stamp in keys}, "rows written before the kill were lost"
    assert len(keys) >= len(before_kill) + 2 * 6
    assert not journal_seconds(lake)


def test_the_default_websocket_source_alerts_as_scripted_through_a_dropped_connection(
    tmp_path, server_factory
):
    script = {
        "books": {"btc_mxn": [{"at": 2, "spread": "0.7"}, {"at": 9, "spread": "0.05"}]},
        "faults": [{"at": 4.5, "for": 2, "fault": "ws_drop"}],
    }
    server = server_factory(script)
    lake = tmp_path / "lake"
    out, err = finish(start_monitor(lake, server, "--window", "5", "--duration", "12"))
    filed = [
        json.loads(line)
        for path in lake.glob("alerts/date=*/alerts.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [(a["state"], a["threshold"]) for a in filed] == [
        ("triggered", "0.5"),
        ("triggered", "0.1"),
        ("resolved", "0.5"),
        ("resolved", "0.1"),
    ]
    rows = lake_rows(lake)
    assert {row["source"] for row in rows if row["is_gap"] == "false"} == {"ws"}
    gaps = [row for row in rows if row["is_gap"] == "true"]
    reasons = {row["gap_reason"] for row in gaps}
    assert gaps and all("WebSocket down" in reason for reason in reasons), reasons
    # Both books lose the same seconds, at most those of the drop and the reconnection.
    assert len(gaps) % 2 == 0 and len(gaps) <= 2 * 4
    assert "2 WebSocket connections" in out
    assert (
        len([line for line in err.splitlines() if "WARNING" in line and "WebSocket" in line]) == 1
    )


FAULTS = [
    # (how to start it, how to end it or None, seconds it holds, marker in log and gap reasons)
    ({"fault": "http_500", "for": 2}, None, 2.5, "HTTP 500 server error"),
    ({"fault": "http_503", "for": 2}, None, 2.5, "HTTP 503 server error"),
    ({"fault": "html", "for": 2}, None, 2.5, "body is not JSON (text/html)"),
    ({"fault": "success_false", "for": 2}, None, 2.5, "error 1000: API temporarily disabled"),
    ({"fault": "slow", "for": 3, "delay": 4}, None, 3.5, "no reply within 3 s"),
    ({"fault": "down", "for": 2}, None, 2.5, "connection failed or refused"),
    ({"book": "btc_mxn", "state": "empty"}, {"book": "btc_mxn"}, 2.5, "btc_mxn: empty book"),
    ({"book": "btc_mxn", "state": "crossed"}, {"book": "btc_mxn"}, 2.5, "btc_mxn: crossed book"),
    ({"fault": "rate_limit_429", "for": 2}, None, 2.5, "HTTP 429 rate limited"),
]


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """One monitor run through every fault in turn, ended by SIGTERM during a 420 lockout."""
    tmp_path = tmp_path_factory.mktemp("faults")
    server = Server(tmp_path)
    lake = tmp_path / "lake"
    monitor = start_monitor(lake, server, "--window", "5", "--source", "rest")
    try:
        wait_until(lambda: journal_seconds(lake), 20, "the first second in the journal")
        for start, end, hold, _marker in FAULTS:
            server.post("faults" if "fault" in start else "books", start)
            time.sleep(hold)
            if end is not None:
                server.post("books", end)
            # Long enough for the backoff to end and a good quote to be sampled.
            time.sleep(2.5)
        server.post("faults", {"fault": "rate_limit_420", "for": 2})
        wait_until(lambda: "HTTP 420" in "".join(journal_tail(lake)), 5, "the 420 reply")
        requests_at_420 = server.stats()["requests"]
        time.sleep(3.0)
        requests_after = server.stats()["requests"]
        monitor.send_signal(signal.SIGTERM)
        _, err = finish(monitor, timeout=20)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        server.stop()
    return {
        "rows": lake_rows(lake),
        "err": err,
        "requests_at_420": requests_at_420,
        "requests_after": requests_after,
        "lake": lake,
    }


def journal_tail(lake: Path) -> list[str]:
    return [
        line
        for path in (lake / "spreads" / "_partial").glob("*.partial")
        for line in path.read_text().splitlines()[-4:]
    ]


@pytest.mark.parametrize(
    "marker",
    [marker for *_, marker in FAULTS],
    ids=[f[0].get("fault") or f[0]["state"] for f in FAULTS],
)
def test_each_fault_is_survived_logged_once_and_recorded_as_gaps(faulty_run, marker):
    assert len([line for line in faulty_run["err"].splitlines() if marker in line]) == 1
    gaps = [row for row in faulty_run["rows"] if marker.split(": ")[-1] in row["gap_reason"]]
    assert gaps
    # Quotes come back after the fault: the next seconds after its last gap are not gaps.
    last_gap = max(row["orderbook_timestamp"] for row in gaps)
    later = [row for row in faulty_run["rows"] if row["orderbook_timestamp"] > last_gap]
    assert any(row["is_gap"] == "false" for row in later)


def test_a_420_pauses_requests_for_the_lockout_and_sigterm_closes_the_window(faulty_run):
    assert faulty_run["requests_after"] == faulty_run["requests_at_420"]
    assert "HTTP 420 rate limited (error 0801" in faulty_run["err"]
    assert "SIGTERM received" in faulty_run["err"]
    assert not journal_seconds(faulty_run["lake"])
    rows = faulty_run["rows"]
    keys = [(row["book"], row["orderbook_timestamp"]) for row in rows]
    assert len(keys) == len(set(keys))
    for book in ("btc_mxn", "usd_mxn"):
        last = max(
            (row for row in rows if row["book"] == book), key=lambda r: r["orderbook_timestamp"]
        )
        assert "HTTP 420" in last["gap_reason"]
