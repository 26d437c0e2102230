"""The spread analysis end to end: a real monitor run against the local Bitso, then `dbt build`
on DuckDB (reading the lake in place) and on PostgreSQL (after `ingest lake-load`), then the
report. The models must equal an oracle computed here from the lake files, and the script.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.contracts import LAKE_WINDOW_COLUMNS, LAKE_WINDOW_PARQUET_TYPES
from ingest.io.parquet import csv_to_parquet
from ingest.io.warehouse import connect
from ingest.spreads import report, report_data, report_format
from ingest.spreads.monitor.quotes import spread_pct
from tests.python.spreads.monitor.test_end_to_end import Server, finish, start_monitor

pytestmark = pytest.mark.dbt

THRESHOLDS = (Decimal("0.1"), Decimal("0.5"), Decimal("1.0"))
# btc_mxn climbs through every threshold and back, usd_mxn goes above 0.1 % only; the ticker
# fails for three seconds while btc_mxn is above 1 %, so a gap falls inside those episodes.
# Steps count seconds since the server started; the monitor starts about half a second later.
SCRIPT = {
    "books": {
        "btc_mxn": [
            {"at": 0, "bid": "1547200", "ask": "1548000"},
            {"at": 8, "bid": "1542000", "ask": "1548000"},
            {"at": 14, "bid": "1537000", "ask": "1548000"},
            {"at": 20, "bid": "1528000", "ask": "1548000"},
            {"at": 30, "bid": "1542000", "ask": "1548000"},
            {"at": 36, "bid": "1547200", "ask": "1548000"},
        ],
        "usd_mxn": [
            {"at": 0, "bid": "17.19", "ask": "17.20"},
            {"at": 12, "bid": "17.17", "ask": "17.20"},
            {"at": 26, "bid": "17.19", "ask": "17.20"},
        ],
    },
    "faults": [{"at": 23, "for": 3, "fault": "http_503"}],
}
RUN_SECONDS = 45
# Every model of marts/spreads.
SPREAD_MARTS = (
    "fct_spread_observations",
    "rpt_spread_minutely",
    "rpt_spread_hourly",
    "rpt_spread_daily",
    "rpt_spread_threshold_exposure",
    "rpt_spread_alert_episodes",
    "rpt_spread_gaps",
)


def scripted_spreads(book: str) -> set[Decimal]:
    return {
        spread_pct(Decimal(step["bid"]), Decimal(step["ask"])) for step in SCRIPT["books"][book]
    }


BTC_PEAK = spread_pct(Decimal("1528000"), Decimal("1548000"))  # 1.2919896641
USD_PEAK = spread_pct(Decimal("17.17"), Decimal("17.20"))  # 0.1744186047


@pytest.fixture(scope="module")
def monitor_lake(tmp_path_factory) -> Path:
    """One scripted monitor run, shared by both engines."""
    directory = tmp_path_factory.mktemp("spread_run")
    server = Server(directory, SCRIPT)
    try:
        lake = directory / "lake"
        monitor = start_monitor(
            lake, server, "--source", "rest", "--window", "10", "--duration", str(RUN_SECONDS)
        )
        finish(monitor, timeout=RUN_SECONDS + 30)
    finally:
        server.stop()
    return lake


# The oracle: the monitor's semantics applied in Python to the lake files.


def lake_records(lake: Path) -> dict[str, list[tuple[datetime, Decimal | None]]]:
    records = defaultdict(list)
    for path in sorted(lake.glob("spreads/book=*/date=*/*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                second = datetime.fromisoformat(row["orderbook_timestamp"])
                spread = None if row["is_gap"] == "true" else Decimal(row["spread"])
                records[row["book"]].append((second, spread))
    return {book: sorted(rows) for book, rows in records.items()}


def expected_exposure(records) -> set[tuple]:
    expected = set()
    for book, rows in records.items():
        days = sorted({second.date() for second, _ in rows})
        for day, threshold in ((day, t) for day in days for t in THRESHOLDS):
            on_day = [spread for second, spread in rows if second.date() == day]
            observed = [spread for spread in on_day if spread is not None]
            above = sum(1 for spread in observed if spread > threshold)
            share = (Decimal(above) / len(observed)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            expected.add((book, day, threshold, len(on_day), len(observed), above, share))
    return expected


def expected_episodes(records) -> set[tuple]:
    """(book, threshold, start, end, duration, peak); gap seconds change nothing."""
    episodes = set()
    for book, rows in records.items():
        for threshold in THRESHOLDS:
            start, peak = None, None
            for second, spread in rows:
                if spread is None:
                    continue
                if spread > threshold:
                    start = start or second
                    peak = max(peak or spread, spread)
                elif start is not None:
                    duration = int((second - start).total_seconds())
                    episodes.add((book, threshold, start, second, duration, peak))
                    start, peak = None, None
            if start is not None:
                episodes.add((book, threshold, start, None, None, peak))
    return episodes


def logged_alerts(lake: Path) -> set[tuple]:
    alerts = set()
    for path in lake.glob("alerts/date=*/alerts.jsonl"):
        for line in path.read_text().splitlines():
            alert = json.loads(line)
            second = datetime.fromisoformat(alert["orderbook_timestamp"])
            alerts.add((alert["book"], Decimal(alert["threshold"]), alert["state"], second))
    return alerts


def point_at(warehouse_env: dict, monkeypatch, lake: Path) -> None:
    warehouse_env["BITSO_LAKE"] = str(lake)
    monkeypatch.setenv("BITSO_LAKE", str(lake))


def build_spreads(run_dbt) -> str:
    return run_dbt("build", "--select", "+tag:spreads+", "+tag:bitso_api").stdout


def test_spread_models_and_report_match_a_scripted_monitor_run(
    monitor_lake, engine, warehouse_env, settings, run_dbt, monkeypatch, tmp_path
):
    if engine == "duckdb":
        Path(warehouse_env["BITSO_DUCKDB_PATH"]).parent.mkdir(parents=True)
    # First with no lake at all: the build is green and every model is empty.
    point_at(warehouse_env, monkeypatch, tmp_path / "no_lake")
    assert "ERROR=0" in build_spreads(run_dbt)
    with connect(settings) as warehouse:
        assert warehouse.execute("select count(*) from spreads.fct_spread_observations") == [(0,)]

    point_at(warehouse_env, monkeypatch, monitor_lake)
    if engine == "postgres":
        loaded = CliRunner().invoke(cli, ["lake-load"])
        assert loaded.exit_code == 0, loaded.output
        assert "0 skipped" in loaded.output
    output = build_spreads(run_dbt)
    assert "ERROR=0" in output and "WARN=0" in output
    assert "PASS agrees_with_alert_log_rpt_spread_alert_episodes" in output

    records = lake_records(monitor_lake)
    with connect(settings) as warehouse:
        recorded = warehouse.execute("select count(*) from spreads.fct_spread_observations")
        exposure = set(warehouse.execute("select * from spreads.rpt_spread_threshold_exposure"))
        episodes = set(
            warehouse.execute(
                "select book, threshold_pct, episode_start, episode_end, duration_seconds,"
                " peak_spread_pct from spreads.rpt_spread_alert_episodes"
            )
        )
        gaps = warehouse.execute(
            "select book, gap_start, gap_end, gap_kind, first_gap_reason"
            " from spreads.rpt_spread_gaps order by book"
        )
        daily = warehouse.execute(
            "select book, min_spread_pct, max_spread_pct from spreads.rpt_spread_daily"
            " order by book"
        )

    # The models equal the oracle computed from the lake files, exactly.
    assert recorded == [(sum(len(rows) for rows in records.values()),)]
    assert exposure == expected_exposure(records)
    assert episodes == expected_episodes(records)

    # ... and the script: every recorded spread is one it scripted, the run went through each
    # episode once, and the peaks are the scripted extremes.
    for book, rows in records.items():
        assert {spread for _, spread in rows if spread is not None} == scripted_spreads(book)
    assert len(records["btc_mxn"]) == len(records["usd_mxn"]) == RUN_SECONDS
    assert sorted((book, threshold, peak) for book, threshold, *_, peak in episodes) == [
        ("btc_mxn", Decimal("0.1"), BTC_PEAK),
        ("btc_mxn", Decimal("0.5"), BTC_PEAK),
        ("btc_mxn", Decimal("1.0"), BTC_PEAK),
        ("usd_mxn", Decimal("0.1"), USD_PEAK),
    ]
    # The scripted episodes last 28, 16, 10 (btc_mxn) and 14 (usd_mxn) seconds; polling every
    # 1.2 s moves each edge by up to a second or two.
    durations = {(book, t): duration for book, t, _, _, duration, _ in episodes}
    for key, scripted in {
        ("btc_mxn", Decimal("0.1")): 28,
        ("btc_mxn", Decimal("0.5")): 16,
        ("btc_mxn", Decimal("1.0")): 10,
        ("usd_mxn", Decimal("0.1")): 14,
    }.items():
        assert abs(durations[key] - scripted) <= 2, key
    assert daily == [
        ("btc_mxn", spread_pct(Decimal("1547200"), Decimal("1548000")), BTC_PEAK),
        ("usd_mxn", spread_pct(Decimal("17.19"), Decimal("17.20")), USD_PEAK),
    ]
    # The three failed seconds are one gap per book, inside btc_mxn's 1 % episode.
    assert [(book, kind, reason) for book, _, _, kind, reason in gaps] == [
        (book, "no usable quote", "ticker request failed: HTTP 503 server error")
        for book in ("btc_mxn", "usd_mxn")
    ]
    (one_pct,) = [e for e in episodes if e[:2] == ("btc_mxn", Decimal("1.0"))]
    assert one_pct[2] < gaps[0][1] <= gaps[0][2] < one_pct[3]

    # Every alert in the monitor's log is an episode boundary, and the other way round.
    boundaries = {(b, t, "triggered", start) for b, t, start, *_ in episodes} | {
        (b, t, "resolved", end) for b, t, _, end, *_ in episodes if end is not None
    }
    assert boundaries == logged_alerts(monitor_lake)

    # The report reads the same seconds, episodes, gaps and exposure ...
    result = report.build_reports(settings, tmp_path / "report", hours=24)
    assert [r.book for r in result.books] == ["btc_mxn", "usd_mxn"]
    with connect(settings) as warehouse:
        read = list(report_data.read_books(warehouse, result.period, ("btc_mxn", "usd_mxn")))
    page = result.page_path.read_text()
    assert result.page_path.name == "index.html"
    for data, book_report in zip(read, result.books, strict=True):
        book = data.book
        assert [(row.second, row.spread_pct) for row in data.series] == records[book]
        assert {
            (book, e.threshold_pct, e.start, e.end, e.duration_seconds, e.peak_spread_pct)
            for e in data.episodes
        } == {e for e in episodes if e[0] == book}
        assert {
            (book, row.threshold_pct, row.seconds_above, row.share_above) for row in data.exposure
        } == {(b, t, above, share) for b, _, t, _, _, above, share in exposure if b == book}
        assert [gap.start for gap in data.gaps] == [start for b, start, *_ in gaps if b == book]
        assert book_report.png_path.read_bytes().startswith(b"\x89PNG")
        # ... and its overview row says what the records say, formatted for people.
        summary = book_report.summary
        spreads = sorted(spread for _, spread in records[book] if spread is not None)
        assert summary.recorded_seconds == len(records[book])
        assert summary.median_spread_pct == percentile_cont(spreads, Decimal("0.5"))
        assert summary.p95_spread_pct == percentile_cont(spreads, Decimal("0.95"))
        assert summary.gap_seconds == sum(1 for _, spread in records[book] if spread is None)
        for threshold, share in summary.share_above:
            above = sum(1 for spread in spreads if spread > threshold)
            assert share == Decimal(above) / len(spreads)
            assert f"<td>{report_format.share(share)}</td>" in page
        assert f"<td>{report_format.spread(summary.p95_spread_pct)}</td>" in page
        for episode in data.episodes:
            assert f"<td>{report_format.moment(episode.start)}</td>" in page
        for row in data.exposure:
            assert (
                f"<td>{row.day}</td><td>{report_format.threshold(row.threshold_pct)}</td>" in page
            )


def percentile_cont(values: list[Decimal], fraction: Decimal) -> Decimal:
    """PERCENTILE_CONT over sorted values, as docs/spread_analysis.md states it."""
    position = (len(values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


# lake-load on hand-written lake files.


def window_csv(start: datetime, spreads: list[str | None]) -> str:
    lines = [",".join(LAKE_WINDOW_COLUMNS)]
    for offset, spread in enumerate(spreads):
        second = (start + timedelta(seconds=offset)).isoformat()
        if spread is None:
            lines.append(f"{second},btc_mxn,,,,,,,rest,true,ticker request failed: timeout")
        else:
            lines.append(f"{second},btc_mxn,100,101,{spread},{second},200,,rest,false,")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
WINDOW = "spreads/book=btc_mxn/date=2026-11-29/btc_mxn_20261129T100000Z.csv"
NEXT_WINDOW = "spreads/book=btc_mxn/date=2026-11-29/btc_mxn_20261129T100010Z.csv"


def raw_rows(settings, table: str) -> list[tuple]:
    with connect(settings) as warehouse:
        return warehouse.execute(
            f"select _source_file, count(*) from raw.{table} group by 1 order by 1"
        )


def lake_load(lake: Path) -> str:
    result = CliRunner().invoke(cli, ["lake-load", "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("engine", ["postgres"])
def test_lake_load_loads_each_file_once_and_reloads_a_changed_one(settings, tmp_path):
    lake = tmp_path / "lake"
    write(lake / WINDOW, window_csv(T0, ["0.1", "0.2", None]))
    write(lake / "alerts/date=2026-11-29/alerts.jsonl", json.dumps({
        "book": "btc_mxn", "threshold": "0.1", "state": "triggered", "spread": "0.2",
        "bid": "100", "ask": "101", "orderbook_timestamp": "2026-11-29T10:00:01+00:00", "text": "t",
    }) + "\n")  # fmt: skip
    # Not closed windows: the journal, and a file being written aside.
    write(lake / "spreads/_partial/20261129T100010Z.partial", window_csv(T0, ["0.3"]))
    write(lake / (WINDOW.replace("btc_mxn_2", ".btc_mxn_2") + ".tmp"), window_csv(T0, ["0.3"]))

    assert "2 files loaded, 0 reloaded (4 rows), 0 unchanged, 0 skipped" in lake_load(lake)
    assert "0 files loaded, 0 reloaded (0 rows), 2 unchanged" in lake_load(lake)
    assert raw_rows(settings, "spread_observations") == [(WINDOW, 3)]

    # Published again with the same content (a restart that merged nothing): still unchanged.
    write(lake / WINDOW, window_csv(T0, ["0.1", "0.2", None]))
    assert "0 files loaded, 0 reloaded (0 rows), 2 unchanged" in lake_load(lake)

    # The monitor merged a restart's seconds into the window: its rows are replaced, not added.
    write(lake / WINDOW, window_csv(T0, ["0.1", "0.2", None, "0.4", "0.5"]))
    assert "0 files loaded, 1 reloaded (5 rows), 1 unchanged" in lake_load(lake)
    assert raw_rows(settings, "spread_observations") == [(WINDOW, 5)]
    with connect(settings) as warehouse:
        loads = warehouse.execute(
            "select source_file, rows_loaded from raw.lake_file_loads order by load_id"
        )
    assert loads == [
        ("alerts/date=2026-11-29/alerts.jsonl", 1),
        (WINDOW, 3),
        (WINDOW, 5),
    ]


@pytest.mark.parametrize("engine", ["postgres"])
def test_lake_load_skips_half_written_and_unreadable_files_until_they_are_whole(settings, tmp_path):
    lake = tmp_path / "lake"
    whole = window_csv(T0 + timedelta(seconds=10), ["0.1", "0.2"])
    write(lake / NEXT_WINDOW, whole[:-25])
    parquet = lake / WINDOW.replace(".csv", ".parquet")
    parquet.parent.mkdir(parents=True, exist_ok=True)
    parquet.write_bytes(b"PAR1 torn off")
    alerts = write(lake / "alerts/date=2026-11-29/alerts.jsonl", '{"book": "btc_')

    output = lake_load(lake)

    assert "0 files loaded, 0 reloaded (0 rows), 0 unchanged, 3 skipped" in output
    assert f"skipping {NEXT_WINDOW} (tried again next run): half written" in output
    assert "not a readable Parquet file" in output
    assert raw_rows(settings, "spread_observations") == []

    write(lake / NEXT_WINDOW, whole)
    parquet.unlink()
    # A crash tore a line; the monitor appended after it. The torn line alone is left out.
    alerts.write_text(
        '{"book": "btc_' + json.dumps({
            "book": "btc_mxn", "threshold": "0.1", "state": "resolved", "spread": "0.05",
            "bid": "100", "ask": "101", "orderbook_timestamp": "2026-11-29T10:00:12+00:00",
            "text": "r",
        }) + "\n" + json.dumps({
            "book": "btc_mxn", "threshold": "0.1", "state": "triggered", "spread": "0.2",
            "bid": "100", "ask": "101", "orderbook_timestamp": "2026-11-29T10:00:13+00:00",
            "text": "t",
        }) + "\n"
    )  # fmt: skip
    assert "2 files loaded, 0 reloaded (3 rows), 0 unchanged, 0 skipped" in lake_load(lake)
    assert raw_rows(settings, "spread_observations") == [(NEXT_WINDOW, 2)]
    assert raw_rows(settings, "spread_alerts") == [("alerts/date=2026-11-29/alerts.jsonl", 1)]


@pytest.mark.parametrize("engine", ["postgres"])
def test_lake_load_reads_parquet_windows_as_the_csv_text(settings, tmp_path):
    lake = tmp_path / "lake"
    source = write(tmp_path / "window.csv", window_csv(T0, ["0.1234567891", None]))
    target = lake / WINDOW.replace(".csv", ".parquet")
    target.parent.mkdir(parents=True)
    # The monitor's own CSV-to-Parquet conversion, so the types are those it writes.
    csv_to_parquet(source, LAKE_WINDOW_PARQUET_TYPES, target)

    assert "1 files loaded" in lake_load(lake)
    with connect(settings) as warehouse:
        rows = warehouse.execute(
            "select bid, spread, is_gap, gap_reason from raw.spread_observations"
            " order by orderbook_timestamp"
        )
    bid, spread, is_gap, reason = rows[0]
    assert (Decimal(bid), Decimal(spread), is_gap, reason) == (
        100,
        Decimal("0.1234567891"),
        "false",
        None,
    )
    assert rows[1] == (None, None, "true", "ticker request failed: timeout")


def test_lake_load_on_duckdb_has_nothing_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BITSO_TARGET", "duckdb")
    result = CliRunner().invoke(cli, ["lake-load", "--lake", str(tmp_path)])
    assert result.exit_code == 0
    assert "DuckDB reads the lake files in place" in result.output


def test_report_without_spread_models_fails_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("BITSO_TARGET", "duckdb")
    monkeypatch.setenv("BITSO_DUCKDB_PATH", str(tmp_path / "empty.duckdb"))
    result = CliRunner().invoke(cli, ["report", "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "run `dbt build` first" in result.output
