import csv
from decimal import Decimal

import duckdb
import pytest

from ingest.contracts import LAKE_WINDOW_COLUMNS
from ingest.spreads.monitor.lake import LakeBusy, LakeWriter, window_key
from ingest.spreads.monitor.records import SpreadRecord

from .conftest import T0

BOOKS = ("btc_mxn", "usd_mxn")


def records(second, books=BOOKS):
    return [
        SpreadRecord(
            second,
            book,
            "rest",
            bid=Decimal("1496250"),
            ask=Decimal("1500000"),
            spread=Decimal("0.25"),
            observed_at=second - 0.2,
            quote_age_ms=200,
        )
        for book in books
    ]


def write_seconds(writer, seconds):
    for second in seconds:
        writer.write(second, records(second))


def published_rows(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def journal(lake, start_stamp="20261129T100000Z"):
    return lake / "spreads" / "_partial" / f"{start_stamp}.partial"


def test_window_files_are_hive_partitioned_by_book_and_date(tmp_path):
    assert window_key("btc_mxn", T0 + 600, "csv") == (
        "spreads/book=btc_mxn/date=2026-11-29/btc_mxn_20261129T101000Z.csv"
    )


def test_each_second_is_in_the_journal_at_once_and_each_window_is_published_per_book(tmp_path):
    writer = LakeWriter(tmp_path, 10, "csv")
    writer.open(T0)
    write_seconds(writer, range(T0, T0 + 10))
    # Mid-window nothing is published, yet every second so far is on disk.
    assert not list((tmp_path / "spreads").glob("book=*"))
    assert len(published_rows(journal(tmp_path))) == 1 + 10 * 2
    write_seconds(writer, [T0 + 10])
    writer.close()
    first = published_rows(tmp_path / window_key("btc_mxn", T0, "csv"))
    assert first[0] == list(LAKE_WINDOW_COLUMNS)
    assert [row[0] for row in first[1:]] == [
        f"2026-11-29T10:00:{second:02d}+00:00" for second in range(10)
    ]
    assert len(published_rows(tmp_path / window_key("usd_mxn", T0 + 10, "csv"))) == 2
    leftovers = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert sorted(name for name in leftovers if not name.endswith(".csv")) == [".lock"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duckdb_reads_book_and_date_from_the_paths_and_exact_prices(tmp_path, fmt):
    writer = LakeWriter(tmp_path, 5, fmt)
    writer.open(T0)
    write_seconds(writer, range(T0, T0 + 7))
    writer.close()
    files = f"{tmp_path}/spreads/*/*/*.{fmt}"
    reader = f"read_{fmt}('{files}', hive_partitioning = true)"
    counts = duckdb.sql(
        f"select book, cast(date as varchar), count(*) from {reader} group by all order by 1"
    ).fetchall()
    assert counts == [("btc_mxn", "2026-11-29", 7), ("usd_mxn", "2026-11-29", 7)]
    [(bid, spread)] = duckdb.sql(f"select distinct bid, spread from {reader}").fetchall()
    assert Decimal(str(bid)) == Decimal("1496250") and Decimal(str(spread)) == Decimal("0.25")


def test_a_crash_journal_of_an_ended_window_is_published_on_restart_without_torn_rows(tmp_path):
    path = journal(tmp_path)
    path.parent.mkdir(parents=True)
    rows = [",".join(LAKE_WINDOW_COLUMNS)] + [
        ",".join(r.as_row()) for s in range(T0, T0 + 4) for r in records(s)
    ]
    # kill -9 in the middle of a line leaves it without its newline.
    path.write_text("\n".join(rows) + "\n" + "2026-11-29T10:00:04+00:00,btc_mx")
    writer = LakeWriter(tmp_path, 10, "csv")
    assert writer.open(T0 + 25) == 1
    writer.close()
    published = published_rows(tmp_path / window_key("btc_mxn", T0, "csv"))
    assert [row[0][17:19] for row in published[1:]] == ["00", "01", "02", "03"]
    assert not path.exists()


def test_a_crash_between_publishing_and_deleting_the_journal_does_not_duplicate(tmp_path):
    writer = LakeWriter(tmp_path, 10, "csv")
    writer.open(T0)
    write_seconds(writer, range(T0, T0 + 3))
    writer.close()
    target = tmp_path / window_key("btc_mxn", T0, "csv")
    before = target.read_text()
    # Replay: the journal comes back as if the process died right after the rename.
    path = journal(tmp_path)
    path.write_text("\n".join(",".join(r.as_row()) for s in range(T0, T0 + 3) for r in records(s)))
    writer = LakeWriter(tmp_path, 10, "csv")
    writer.open(T0 + 30)
    writer.close()
    assert target.read_text() == before


def test_a_restart_inside_the_same_window_appends_to_its_journal(tmp_path):
    crashed = LakeWriter(tmp_path, 10, "csv")
    crashed.open(T0)
    write_seconds(crashed, range(T0, T0 + 4))
    crashed._lock_file.close()  # the kernel drops the lock of a killed process
    with journal(tmp_path).open("a") as handle:
        handle.write("2026-11-29T10:00:04+00:00,btc")  # torn tail
    restarted = LakeWriter(tmp_path, 10, "csv")
    assert restarted.open(T0 + 6) == 0
    write_seconds(restarted, range(T0 + 6, T0 + 10))
    restarted.close()
    published = published_rows(tmp_path / window_key("btc_mxn", T0, "csv"))
    assert [row[0][17:19] for row in published[1:]] == [
        "00",
        "01",
        "02",
        "03",
        "06",
        "07",
        "08",
        "09",
    ]


def test_a_restart_at_the_end_of_a_window_still_publishes_that_window(tmp_path):
    crashed = LakeWriter(tmp_path, 10, "csv")
    crashed.open(T0)
    write_seconds(crashed, range(T0, T0 + 4))
    crashed._lock_file.close()
    restarted = LakeWriter(tmp_path, 10, "csv")
    restarted.open(T0 + 9)
    # Its first second belongs to the next window.
    write_seconds(restarted, range(T0 + 10, T0 + 12))
    restarted.close()
    published = published_rows(tmp_path / window_key("btc_mxn", T0, "csv"))
    assert [row[0][17:19] for row in published[1:]] == ["00", "01", "02", "03"]
    assert not list((tmp_path / "spreads" / "_partial").glob("*.partial"))


def test_a_window_closed_early_and_reopened_is_merged_not_overwritten(tmp_path):
    for seconds in (range(T0, T0 + 3), range(T0 + 5, T0 + 8)):
        writer = LakeWriter(tmp_path, 10, "parquet")
        writer.open(seconds[0])
        write_seconds(writer, seconds)
        writer.close()
    target = tmp_path / window_key("btc_mxn", T0, "parquet")
    stamps = duckdb.sql(f"select orderbook_timestamp from read_parquet('{target}')").fetchall()
    assert [stamp[17:19] for (stamp,) in stamps] == ["00", "01", "02", "05", "06", "07"]


def test_a_second_monitor_on_the_same_lake_is_refused(tmp_path):
    first = LakeWriter(tmp_path, 10, "csv")
    first.open(T0)
    with pytest.raises(LakeBusy, match="another monitor"):
        LakeWriter(tmp_path, 10, "csv").open(T0)
    first.close()


def object_store():
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_windows_on_object_storage_are_published_whole_and_merged_on_restart(
    s3_lake, tmp_path, fmt
):
    journal_dir = tmp_path / "journal"
    for seconds in (range(T0, T0 + 3), range(T0 + 5, T0 + 8)):
        writer = LakeWriter(s3_lake, 10, fmt, journal_dir)
        writer.open(seconds[0])
        write_seconds(writer, seconds)
        writer.close()
    assert writer.published == [
        f"{s3_lake}/{window_key('btc_mxn', T0, fmt)}",
        f"{s3_lake}/{window_key('usd_mxn', T0, fmt)}",
    ]
    store = object_store()
    keys = store.glob(f"{s3_lake.removeprefix('s3://')}/**")
    assert sorted(key.rsplit("/", 1)[-1] for key in keys if "." in key.rsplit("/", 1)[-1]) == [
        f"btc_mxn_20261129T100000Z.{fmt}",
        f"usd_mxn_20261129T100000Z.{fmt}",
    ]
    connection = duckdb.connect()
    connection.register_filesystem(store)
    stamps, prices = zip(
        *connection.execute(
            "select second(cast(orderbook_timestamp as timestamptz)), cast(bid as varchar)"
            f" from read_{fmt}(?) order by 1",
            [f"{s3_lake}/{window_key('btc_mxn', T0, fmt)}"],
        ).fetchall(),
        strict=True,
    )
    assert list(stamps) == [0, 1, 2, 5, 6, 7]
    assert {Decimal(price) for price in prices} == {Decimal("1496250")}
    assert not list(journal_dir.glob("*.partial"))


def test_a_window_the_object_store_refused_is_kept_and_published_on_the_next_start(
    s3_lake, tmp_path, caplog
):
    journal_dir = tmp_path / "journal"
    bucket = s3_lake.removeprefix("s3://").split("/")[0]
    writer = LakeWriter(s3_lake, 10, "csv", journal_dir)
    writer.open(T0)
    write_seconds(writer, range(T0, T0 + 4))
    object_store().rmdir(bucket)  # the bucket goes away mid-window
    writer.close()
    assert writer.published == []
    assert "kept for the next start" in caplog.text
    assert len(published_rows(journal_dir / "20261129T100000Z.partial")) == 1 + 4 * 2

    object_store().mkdir(bucket)
    restarted = LakeWriter(s3_lake, 10, "csv", journal_dir)
    assert restarted.open(T0 + 30) == 1
    restarted.close()
    content = object_store().cat_file(f"{bucket}/lake/{window_key('btc_mxn', T0, 'csv')}")
    assert [row[0][17:19] for row in csv.reader(content.decode().splitlines()[1:])] == [
        "00",
        "01",
        "02",
        "03",
    ]


def test_a_monitor_does_not_start_on_an_unreachable_object_store(s3_lake, tmp_path):
    writer = LakeWriter("s3://no-such-bucket/lake", 10, "csv", tmp_path / "journal")
    with pytest.raises(OSError, match="s3://no-such-bucket/lake"):
        writer.open(T0)
