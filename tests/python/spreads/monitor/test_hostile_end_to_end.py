"""`ingest spreads` against a hostile `ingest serve-bitso`, as subprocesses: every REST fault
class of the local server against a REST monitor, and every WebSocket one (some while the REST
API fails too, as the stream needs it for first quotes and snapshots) against a top-of-book and
a full-book WebSocket monitor. Two scripted servers cycle through their fault windows at the
same time. Each monitor stays alive, prints no traceback, and records fresh quotes again within
seconds of each fault's end."""

from __future__ import annotations

import time
from datetime import datetime

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.python.receivers import free_port

from . import test_end_to_end
from .test_end_to_end import finish, lake_rows, start_monitor

server_factory = test_end_to_end.server_factory

BOOKS = ("btc_mxn", "usd_mxn")
# Both books change every second, so a live feed gives a new quote every second; a cycle of
# three, so a book's state two seconds on always differs (the silent-book check compares).
MOVING = [{"at": 0, "spread": "0.05"}, {"at": 1, "spread": "0.06"}, {"at": 2, "spread": "0.07"}]

# (fault, start, length[, extra]) in seconds after the server started; monitors start about a
# second later. Each window is followed by a few clean seconds.
REST_FAULTS = [
    ("truncated", 6, 1.5),
    ("reset", 10, 1.5),
    ("redirect_loop", 14, 1.5),
    ("bad_encoding", 18, 1.5),
    ("retry_after_date", 22, 2),
    ("http_500", 27, 1.5),
    ("http_503", 31, 1.5),
    ("html", 35, 1.5),
    ("success_false", 39, 1.5),
    ("rate_limit_429", 43, 2),
    ("slow", 48, 2, {"delay": 4}),
    ("down", 54, 1.5),
    ("hostile_json", 59, 4),
]
REST_DURATION = 70
# Faults that only send frames to skip: not a single gap while they last.
WS_SKIPPED = [
    ("ws_hostile_frames", 6, 1),
    ("ws_bad_frames", 10, 1),
    ("ws_sequence_repeat", 14, 3),
]
# Faults that cost the stream (a resync, a reconnection) while REST fails as well.
WS_DISRUPTIVE = [
    ("ws_sequence_gap", 20, 1.5),
    ("ws_drop", 27, 2),
    ("ws_silence", 34, 4),
    ("ws_book_silence", 42, 5, {"book": "btc_mxn"}),
]
WS_REST_FAULTS = [("http_503", 19.5, 3), ("truncated", 27, 3.5)]
WS_DURATION = 55
# The first fresh record of a book comes at most this many seconds after a fault's end.
RECOVERY_SECONDS = 6
# A record is fresh when it is no gap and its quote was at most this old when sampled.
FRESH_QUOTE_MS = 2500


def epoch(row: dict) -> int:
    return int(datetime.fromisoformat(row["orderbook_timestamp"]).timestamp())


def script(faults: list[tuple]) -> dict:
    return {
        "repeat_every": 3,
        "books": dict.fromkeys(BOOKS, MOVING),
        "faults": [
            {"at": at, "for": length, "fault": kind, **(extra[0] if extra else {})}
            for kind, at, length, *extra in faults
        ],
    }


def started_at(server) -> float:
    """The server's start in epoch seconds (its script counts from there)."""
    return time.time() - (time.monotonic() - server.started)


def is_fresh(row: dict) -> bool:
    return row["is_gap"] == "false" and int(row["quote_age_ms"]) <= FRESH_QUOTE_MS


def assert_fresh_after(rows: list[dict], started: float, faults: list[tuple], monitor: str):
    for kind, at, length, *_ in faults:
        end = started + at + length
        for book in BOOKS:
            fresh = [
                row
                for row in rows
                if row["book"] == book
                and is_fresh(row)
                and end < epoch(row) <= end + RECOVERY_SECONDS
            ]
            assert fresh, (
                f"{monitor}: no fresh {book} quote within {RECOVERY_SECONDS} s after {kind}"
            )


def source_counters(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, float] = {"resyncs": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bitso_monitor_source_reconnects_total":
                found["reconnects"] = sample.value
            elif sample.name == "bitso_monitor_source_disconnected_seconds_total":
                found["disconnected seconds"] = sample.value
            elif sample.name == "bitso_monitor_source_silent_book_reconnects_total":
                found[f"silent {sample.labels['book']}"] = sample.value
            elif sample.name == "bitso_monitor_source_resyncs_total":
                found["resyncs"] += sample.value
    return found


def test_every_fault_class_is_survived_by_both_sources_end_to_end(server_factory, tmp_path):
    rest_server = server_factory(script(REST_FAULTS))
    ws_server = server_factory(script(WS_SKIPPED + WS_DISRUPTIVE + WS_REST_FAULTS))
    rest_started, ws_started = started_at(rest_server), started_at(ws_server)
    ws_args = ("--ws-timeout", "2", "--book-timeout", "2", "--duration", str(WS_DURATION))
    common = ("--window", "60", "--request-budget", "60")
    metrics_ports = {"top": free_port(), "book": free_port()}
    monitors = {
        "rest": start_monitor(
            tmp_path / "rest",
            rest_server,
            *("--source", "rest", "--duration", str(REST_DURATION), *common),
        ),
        **{
            depth: start_monitor(
                tmp_path / depth,
                ws_server,
                *("--depth", depth, "--metrics-port", str(metrics_ports[depth])),
                *ws_args,
                *common,
            )
            for depth in ("top", "book")
        },
    }
    # The WebSocket monitors' own counters, read once every WebSocket fault is over.
    last_ws_fault_end = max(at + length for _kind, at, length, *_ in WS_DISRUPTIVE)
    time.sleep(max(0.0, ws_started + last_ws_fault_end + 3 - time.time()))
    counters = {depth: source_counters(port) for depth, port in metrics_ports.items()}
    # finish() asserts the exit status 0: each monitor lived to the end of its --duration.
    outputs = {
        name: finish(process, timeout=REST_DURATION + 60) for name, process in monitors.items()
    }
    for name, (_out, err) in outputs.items():
        assert "Traceback" not in err, (name, err)

    rest_rows = lake_rows(tmp_path / "rest")
    assert_fresh_after(rest_rows, rest_started, REST_FAULTS, "rest")
    rest_err = outputs["rest"][1]
    for marker in (
        "ChunkedEncodingError",
        "connection failed",
        "TooManyRedirects",
        "ContentDecodingError",
        "HTTP 429",
        "HTTP 500 server error",
        "HTTP 503 server error",
        "HTTP 403 body is not JSON",
        "success is not true",
        "no reply within",
    ):
        assert marker in rest_err, marker
    gap_reasons = {row["gap_reason"] for row in rest_rows if row["is_gap"] == "true"}
    assert any("empty book" in reason or "crossed" in reason for reason in gap_reasons)

    for name in ("top", "book"):
        rows = lake_rows(tmp_path / name)
        assert_fresh_after(rows, ws_started, WS_SKIPPED + WS_DISRUPTIVE, name)
        # Skipped frames touch no quote: no gap while a skipping fault lasts, nor just after.
        for kind, at, length in WS_SKIPPED:
            start, end = ws_started + at, ws_started + at + length + 2
            gaps = [row for row in rows if row["is_gap"] == "true" and start <= epoch(row) <= end]
            assert not gaps, (name, kind, [(row["book"], row["gap_reason"]) for row in gaps])
        err = outputs[name][1]
        assert "skipped a frame that is not JSON" in err
        assert "skipped a JSON frame that is not an object" in err
        # The stream was replaced for the silence, and for btc_mxn's silence alone.
        assert "no frame for" in err, name
        assert "btc_mxn sent no frame for" in err, name
        assert "usd_mxn sent no frame for" not in err, name
        # What the log says, the metrics count: reconnections for the drop, the silence and
        # btc_mxn's silence, none for usd_mxn, and the time without a stream.
        assert counters[name]["reconnects"] >= 3, (name, counters[name])
        assert counters[name]["silent btc_mxn"] >= 1 and counters[name]["silent usd_mxn"] == 0
        assert counters[name]["disconnected seconds"] > 0
    assert counters["book"]["resyncs"] >= 1 and counters["top"]["resyncs"] == 0
    assert "a repeat or regression" in outputs["book"][1]
    assert "fetching a new snapshot" in outputs["book"][1]
    assert "no usable snapshot" in outputs["book"][1]
