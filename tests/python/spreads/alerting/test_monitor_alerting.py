"""The rules file, silences and the Alertmanager sink in a running `ingest spreads` against the
local Bitso: what reaches the alert log, the rule's receiver and a real Alertmanager."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from ..monitor.test_end_to_end import (
    INGEST,
    ROOT,
    Server,
    environment,
    finish,
    wait_until,
)

RULES = """
receivers:
  - name: markets-slack
    webhook_url_env: MARKETS_SLACK_URL
rules:
  - threshold: 0.5
    severity: critical
    receivers: [markets-slack]
"""


def filed_alerts(lake: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(lake.glob("alerts/date=*/alerts.jsonl"))
        for line in path.read_text().splitlines()
    ]


def monitor_env(lake: Path, server: Server, receiver_url: str) -> dict[str, str]:
    return {**environment(lake, server.url, server.ws_url), "MARKETS_SLACK_URL": receiver_url}


def start_monitor(tmp_path: Path, server: Server, receiver_url: str, *args: str):
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    return subprocess.Popen(
        [*INGEST, "spreads", "--books", "btc_mxn,usd_mxn", "--source", "rest", "--window", "5"]
        + ["--alert-rules", str(rules), *args],
        cwd=ROOT,
        env=monitor_env(tmp_path / "lake", server, receiver_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_with_rules(
    tmp_path: Path, script: dict, rules_text: str, receiver_url: str, seconds: int
) -> float:
    """Run `ingest spreads --alert-rules` for `seconds` against a local Bitso playing `script`,
    the lake in tmp_path/lake; returns when the local Bitso started (time.monotonic)."""
    rules = tmp_path / "run_rules.yml"
    rules.write_text(rules_text)
    server = Server(tmp_path, script)
    try:
        monitor = subprocess.Popen(
            [*INGEST, "spreads", "--books", "btc_mxn,usd_mxn", "--source", "rest"]
            + ["--window", "5", "--alert-rules", str(rules), "--duration", str(seconds)],
            cwd=ROOT,
            env=monitor_env(tmp_path / "lake", server, receiver_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        finish(monitor, timeout=90)
        return server.started
    finally:
        server.stop()


def test_a_silence_written_while_the_monitor_runs_holds_back_its_books_alerts(
    tmp_path, http_receiver
):
    lake = tmp_path / "lake"
    server = Server(tmp_path)
    try:
        monitor = start_monitor(tmp_path, server, http_receiver.url)
        wait_until(lambda: (lake / "spreads" / "_partial").is_dir(), 20, "the monitor to start")
        silenced = subprocess.run(
            [*INGEST, "alerts", "silence", "--books", "btc_*", "--duration", "1h"]
            + ["--reason", "Bitso maintenance window"],
            cwd=ROOT,
            env=monitor_env(lake, server, http_receiver.url),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert silenced.returncode == 0, silenced.stderr
        silence_id = silenced.stdout.strip()
        for book in ("btc_mxn", "usd_mxn"):
            server.post("books", {"book": book, "spread": "0.7"})
        wait_until(lambda: len(filed_alerts(lake)) == 2, 20, "both books' triggers")
        monitor.send_signal(signal.SIGTERM)
        _, err = finish(monitor, timeout=30)
    finally:
        server.stop()
    filed = {alert["book"]: alert for alert in filed_alerts(lake)}
    assert filed["btc_mxn"]["silenced"] is True and filed["btc_mxn"]["state"] == "triggered"
    assert filed["usd_mxn"]["silenced"] is False
    assert f"not sent: silence {silence_id}" in err
    # Only the unsilenced alert reached the rule's receiver, as written to the log.
    assert http_receiver.wait_until(lambda bodies: len(bodies) >= 1) == [filed["usd_mxn"]]


def test_a_monitor_run_posts_to_a_real_alertmanager_which_resolves_the_alert(
    tmp_path, http_receiver, alertmanager
):
    lake = tmp_path / "lake"
    server = Server(tmp_path)
    try:
        monitor = start_monitor(
            tmp_path, server, http_receiver.url, "--alertmanager", alertmanager.url
        )
        wait_until(lambda: (lake / "spreads" / "_partial").is_dir(), 20, "the monitor to start")
        server.post("books", {"book": "usd_mxn", "spread": "0.7"})
        listed = alertmanager.wait_for_alerts(bool, timeout=20, book="usd_mxn")
        assert [alert["labels"] for alert in listed] == [
            {
                "alertname": "BitsoSpreadAboveThreshold",
                "book": "usd_mxn",
                "threshold": "0.5",
                "severity": "critical",
            }
        ]
        [triggered] = filed_alerts(lake)
        assert listed[0]["annotations"]["summary"] == triggered["text"]
        firing = alertmanager.notifications.wait_until(
            lambda bodies: any(body["status"] == "firing" for body in bodies), timeout=20
        )
        assert [body["status"] for body in firing] == ["firing"]
        server.post("books", {"book": "usd_mxn", "spread": "0.05"})
        gone = alertmanager.wait_for_alerts(lambda alerts: not alerts, timeout=20, book="usd_mxn")
        assert gone == []
        monitor.send_signal(signal.SIGTERM)
        finish(monitor, timeout=30)
    finally:
        server.stop()
    assert [alert["state"] for alert in filed_alerts(lake)] == ["triggered", "resolved"]
    # Alertmanager's own receiver then hears that the episode is over.
    notified = alertmanager.notifications.wait_until(
        lambda bodies: any(body["status"] == "resolved" for body in bodies), timeout=20
    )
    assert [body["status"] for body in notified][-1] == "resolved"


FLAPPING_RULES = """
receivers:
  - name: markets-slack
    webhook_url_env: MARKETS_SLACK_URL
rules:
  - threshold: 0.1
    for: 3
    clear_for: 5
    clear_below: 0.08
    receivers: [markets-slack]
"""


def test_a_spread_flapping_around_the_threshold_gives_the_one_specified_episode(
    tmp_path, http_receiver
):
    # bitso_sandbox/scripts/flapping.json: btc_mxn at 0.15 % (above 0.1) for 2 s at a time,
    # then for 6 s (from second 14), then below for 2 s, above for 2 s, and below from 24 on.
    script = json.loads((ROOT / "bitso_sandbox/scripts/flapping.json").read_text())
    lake = tmp_path / "lake"
    server_started = run_with_rules(tmp_path, script, FLAPPING_RULES, http_receiver.url, 32)
    filed = filed_alerts(lake)
    assert [(alert["book"], alert["state"]) for alert in filed] == [
        ("btc_mxn", "triggered"),
        ("btc_mxn", "resolved"),
    ]
    assert filed[0]["alert_key"] == filed[1]["alert_key"]
    start = datetime.fromisoformat(filed[0]["alert_key"].split("/", 2)[2]).timestamp()
    triggered = datetime.fromisoformat(filed[0]["orderbook_timestamp"]).timestamp()
    resolved = datetime.fromisoformat(filed[1]["orderbook_timestamp"]).timestamp()
    # Triggered 3 s after the sustained stretch began; resolved 5 s into the last calm stretch
    # (the brief dip at 20-22 s did not resolve it); seconds since the local Bitso started.
    assert triggered - start == 3
    wall_start = time.time() - (time.monotonic() - server_started)
    assert 13 <= start - wall_start <= 16
    assert 28 <= resolved - wall_start <= 31
    # The receiver got the same two alerts (default group_wait: they were far apart).
    received = http_receiver.wait_until(lambda bodies: len(bodies) >= 2)
    assert received == filed


class RecordingSink:
    """Stands in for the Alertmanager sink: keeps what it is sent."""

    def __init__(self) -> None:
        self.sent = []
        self.on_failure = None

    def send(self, alert) -> None:
        self.sent.append(alert)

    def close(self) -> None:
        pass


def test_a_silence_that_begins_mid_episode_still_ends_the_alert_in_alertmanager(tmp_path):
    from decimal import Decimal

    from ingest.spreads.monitor.alert_rules import simple_rules
    from ingest.spreads.monitor.quotes import Quote, QuoteBoard
    from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
    from ingest.spreads.monitor.silences import SILENCES_FILE, SilenceStore, new_silence
    from ingest.spreads.monitor.webhooks import WebhookNotifier

    from ..monitor.conftest import T0, ManualClock
    from ..monitor.test_runner import IdleSource

    lake = tmp_path / "lake"
    clock, board = ManualClock(), QuoteBoard(["btc_mxn"])
    store = SilenceStore(lake / "spreads" / "_partial" / SILENCES_FILE, clock=clock.time)

    def advance(now: float) -> None:
        second = int(now) - T0
        if second == 5:
            store.add(new_silence(["btc_*"], 3600, "maintenance", now))
        bid = Decimal("99.3") if second < 10 else Decimal("99.95")
        board.publish(Quote("btc_mxn", bid, Decimal("100"), now, "rest"))

    advance(clock.now)
    clock.on_advance = advance
    sink = RecordingSink()
    options = MonitorOptions(
        books=("btc_mxn",),
        lake=lake,
        window_seconds=60,
        duration=15,
        rules=simple_rules([Decimal("0.5")]),
    )
    run_monitor(options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([]), sink)
    assert [(alert["state"], alert["silenced"]) for alert in filed_alerts(lake)] == [
        ("triggered", False),
        ("resolved", True),
    ]
    # Alertmanager heard the trigger, and hears the end although the silence held it back.
    assert [alert.ends_at is None for alert in sink.sent] == [True, False]
    assert sink.sent[0].identity == sink.sent[1].identity


INHIBITING_RULES = """
receivers:
  - name: markets-slack
    webhook_url_env: MARKETS_SLACK_URL
rules:
  - threshold: 1.0
    inhibit_lower: true
    repeat_every: 5
    severity: critical
    receivers: [markets-slack]
  - threshold: 0.5
    receivers: [markets-slack]
  - threshold: 0.1
    receivers: [markets-slack]
"""


def test_a_jump_across_every_threshold_sends_only_the_highest_with_its_reminders(
    tmp_path, http_receiver
):
    # btc_mxn jumps from 0.05 % to 1.5 %, above all three thresholds, for 13 s, then falls back.
    script = {
        "books": {
            "btc_mxn": [
                {"at": 0, "spread": "0.05"},
                {"at": 4, "spread": "1.5"},
                {"at": 17, "spread": "0.05"},
            ],
            "usd_mxn": [{"at": 0, "spread": "0.02"}],
        }
    }
    lake = tmp_path / "lake"
    run_with_rules(tmp_path, script, INHIBITING_RULES, http_receiver.url, 24)
    received = http_receiver.wait_until(
        lambda bodies: any(body.get("state") == "resolved" for body in bodies)
    )
    sent = [
        (alert["threshold"], alert["state"])
        for body in received
        for alert in body.get("alerts", [body])
    ]
    # Inhibited: neither lower threshold reaches the receiver, not even its resolution.
    assert {threshold for threshold, _ in sent} == {"1.0"}, sent
    states = [state for _, state in sent]
    assert states[0] == "triggered" and states[-1] == "resolved", sent
    # 13 s open with a reminder every 5 s: two reminders between the trigger and the resolution.
    assert states[1:-1] == ["reminder", "reminder"], sent
    # The alert log keeps every episode's boundaries, the inhibited ones marked as not sent.
    filed = [
        (alert["threshold"], alert["state"], alert["silenced"]) for alert in filed_alerts(lake)
    ]
    assert sorted(filed) == sorted(
        [
            ("1.0", "triggered", False),
            ("1.0", "resolved", False),
            ("0.5", "triggered", True),
            ("0.5", "resolved", True),
            ("0.1", "triggered", True),
            ("0.1", "resolved", True),
        ]
    ), filed
