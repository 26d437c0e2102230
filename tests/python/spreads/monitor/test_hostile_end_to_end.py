"""`ingest spreads` against a hostile `ingest serve-bitso`: every REST fault class of the local
server against a REST monitor, and every WebSocket one against two WebSocket monitors (top of
book and full books), all at once on one server. Each monitor stays alive, prints no traceback,
and records fresh quotes again within seconds of each fault's end."""

from __future__ import annotations

import time

from . import test_end_to_end
from .test_end_to_end import finish, lake_rows, start_monitor

server_factory = test_end_to_end.server_factory

# (start, length) in seconds after the server started; monitors start about a second later.
REST_FAULTS = [
    ("truncated", 6, 1.5),
    ("reset", 11, 1.5),
    ("redirect_loop", 16, 1.5),
    ("bad_encoding", 21, 1.5),
    ("retry_after_date", 26, 2),
    ("hostile_json", 31, 4),
]
WS_FAULTS = [
    ("ws_hostile_frames", 8, 1),
    ("ws_bad_frames", 13, 1),
    ("ws_sequence_repeat", 18, 4),
]
# A fault is over once the first non-gap record comes this many seconds after its end at most.
RECOVERY_SECONDS = 8
DURATION = 40


def epoch(row: dict) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(row["orderbook_timestamp"]).timestamp())


def test_every_fault_class_is_survived_by_both_sources_end_to_end(server_factory, tmp_path):
    moving = [{"at": 0, "spread": "0.05"}, {"at": 1, "spread": "0.06"}]
    script = {
        "repeat_every": 2,
        "books": {"btc_mxn": moving, "usd_mxn": moving},
        "faults": [
            {"at": at, "for": length, "fault": kind} for kind, at, length in REST_FAULTS + WS_FAULTS
        ],
    }
    server = server_factory(script)
    started = time.time() - (time.monotonic() - server.started)
    common = ("--duration", str(DURATION), "--window", "60", "--request-budget", "60")
    monitors = {
        "rest": start_monitor(tmp_path / "rest", server, "--source", "rest", *common),
        "top": start_monitor(tmp_path / "top", server, *common),
        "book": start_monitor(tmp_path / "book", server, "--depth", "book", *common),
    }
    outputs = {name: finish(process, timeout=DURATION + 60) for name, process in monitors.items()}
    for name, (_out, err) in outputs.items():
        assert "Traceback" not in err, (name, err)

    rest_rows = lake_rows(tmp_path / "rest")
    for kind, at, length in REST_FAULTS:
        end = started + at + length
        for book in ("btc_mxn", "usd_mxn"):
            fresh = [
                row
                for row in rest_rows
                if row["book"] == book
                and row["is_gap"] == "false"
                and end < epoch(row) <= end + RECOVERY_SECONDS
            ]
            assert fresh, f"no fresh {book} quote within {RECOVERY_SECONDS} s after {kind}"
    rest_err = outputs["rest"][1]
    for marker in (
        "ChunkedEncodingError",
        "connection failed",
        "TooManyRedirects",
        "ContentDecodingError",
        "HTTP 429",
    ):
        assert marker in rest_err, marker
    gap_reasons = {row["gap_reason"] for row in rest_rows if row["is_gap"] == "true"}
    assert any("empty book" in reason or "crossed" in reason for reason in gap_reasons)

    for name in ("top", "book"):
        rows = lake_rows(tmp_path / name)
        # Bad frames are skipped without touching quotes: not a single gap in the run.
        assert rows and all(row["is_gap"] == "false" for row in rows), name
        err = outputs[name][1]
        assert "skipped a frame that is not JSON" in err
        assert "skipped a JSON frame that is not an object" in err
    assert "a repeat or regression" in outputs["book"][1]
