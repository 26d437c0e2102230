"""The alerts file's writer: what queues up while it writes goes out as one batch, in order, with
one fsync of the log, and the open episodes saved once after it."""

import json
import os
import threading
from decimal import Decimal

from ingest.io import lake_storage
from ingest.spreads.monitor import alerts
from ingest.spreads.monitor.alert_state import OpenAlerts, OpenEpisode, status
from ingest.spreads.monitor.alert_writer import AlertLogWriter
from ingest.spreads.monitor.alerts import AlertEvent, AlertFile

from .test_alert_restarts import filed_alerts


def event(second, state="triggered", book="btc_mxn"):
    stamp = f"2026-11-29T10:00:{second:02d}.000+00:00"
    return AlertEvent(
        book,
        Decimal("0.5"),
        state,
        Decimal("0.6"),
        Decimal("99.4"),
        Decimal("100"),
        stamp,
        None,
        None,
        stamp,
    )


def open_at(second):
    stamp = f"2026-11-29T10:00:{second:02d}.000+00:00"
    return OpenAlerts((OpenEpisode("btc_mxn", Decimal("0.5"), stamp, Decimal("0.6")),))


def snapshot(open_alerts, built=None):
    """What the dispatcher submits: a builder of the open episodes, noting when it is built."""

    def build():
        if built is not None:
            built.append(open_alerts)
        return open_alerts

    return build


class GatedAlertFile(AlertFile):
    """Holds its first write until `gate` is set, as a slow disk would."""

    def __init__(self, lake):
        super().__init__(lake)
        self.gate = threading.Event()
        self.writing = threading.Event()
        self.batches = []

    def write_all(self, events):
        self.writing.set()
        self.gate.wait(10)
        self.batches.append([e.orderbook_timestamp[17:19] for e in events])
        super().write_all(events)


def test_alerts_queued_during_a_write_go_out_as_one_batch_in_order(tmp_path, monkeypatch):
    synced = []
    original_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        original_fsync(fd)

    monkeypatch.setattr(alerts.os, "fsync", fsync)
    monkeypatch.setattr(lake_storage.os, "fsync", fsync)
    alert_file = GatedAlertFile(tmp_path)
    journal = tmp_path / "journal"
    journal.mkdir()
    writer = AlertLogWriter(alert_file, journal, min_interval=0.0)
    built = []
    writer.submit([event(0)], snapshot(open_at(0), built))
    assert alert_file.writing.wait(10)
    # While the first is being written: 19 more changes, one of them two alerts and a reminder.
    for second in range(1, 19):
        writer.submit([event(second)], snapshot(open_at(second), built))
    last = [event(19), event(19, "reminder"), event(19, "resolved")]
    writer.submit(last, snapshot(OpenAlerts(), built))
    alert_file.gate.set()
    writer.close()

    assert alert_file.batches == [["00"], [f"{s:02d}" for s in range(1, 20)] + ["19"]]
    filed = filed_alerts(tmp_path)
    assert [(alert["orderbook_timestamp"][17:19], alert["state"]) for alert in filed] == [
        (f"{s:02d}", "triggered") for s in range(20)
    ] + [("19", "resolved")]
    # Per batch: the log is durable first, then the state written aside, then its rename.
    log_file = str(tmp_path / "alerts" / "date=2026-11-29" / "alerts.jsonl")
    state_aside = str(journal / ".open_alerts.json.tmp")
    assert synced == [log_file, state_aside, str(journal)] * 2
    # The state saved is the one after the last change; the ones before it were never built.
    assert status(journal) == OpenAlerts()
    assert built == [open_at(0), OpenAlerts()]


def test_a_batch_spanning_midnight_appends_each_day_log_with_its_own_alerts(tmp_path):
    late = AlertEvent(
        "btc_mxn",
        Decimal("0.5"),
        "triggered",
        Decimal("0.6"),
        Decimal("99.4"),
        Decimal("100"),
        "2026-11-29T23:59:59.990+00:00",
    )
    early = AlertEvent(
        "btc_mxn",
        Decimal("0.5"),
        "resolved",
        Decimal("0.1"),
        Decimal("99.9"),
        Decimal("100"),
        "2026-11-30T00:00:00.010+00:00",
    )
    AlertFile(tmp_path).write_all([late, early])
    for day, expected in (("29", late), ("30", early)):
        lines = (tmp_path / "alerts" / f"date=2026-11-{day}" / "alerts.jsonl").read_text()
        assert [json.loads(line) for line in lines.splitlines()] == [expected.as_json()]


def test_closing_writes_what_is_queued_even_while_pacing(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    # An hour between batches: only `close` can end the wait after the first one.
    writer = AlertLogWriter(AlertFile(tmp_path), journal, min_interval=3600.0)
    for second in range(5):
        writer.submit([event(second)], snapshot(open_at(second)))
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(10)
    assert not closing.is_alive()
    assert len(filed_alerts(tmp_path)) == 5
    assert status(journal) == open_at(4)
