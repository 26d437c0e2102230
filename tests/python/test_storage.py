"""The lake's storage: the same operations on a local folder and on the local S3 server."""

from __future__ import annotations

import pytest

from ingest.io.lake_storage import LakeStorageError, LocalLake, ObjectStoreLake, open_lake


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path):
    if request.param == "local":
        return open_lake(tmp_path / "lake")
    return open_lake(request.getfixturevalue("s3_lake"))


def test_a_path_is_a_local_lake_and_a_url_an_object_store(tmp_path):
    assert isinstance(open_lake(tmp_path), LocalLake)
    assert isinstance(open_lake(f"file://{tmp_path}"), LocalLake)
    store = open_lake("s3://bucket/some/prefix/")
    assert isinstance(store, ObjectStoreLake)
    assert store.location("spreads/x.csv") == "s3://bucket/some/prefix/spreads/x.csv"


def test_published_files_are_read_back_and_globbed_without_dot_names(lake, tmp_path):
    lake.publish("spreads/book=btc_mxn/date=2026-11-29/a.csv", b"a\n")
    lake.publish("spreads/book=usd_mxn/date=2026-11-29/b.csv", b"b\n")
    lake.publish("spreads/book=usd_mxn/date=2026-11-29/.c.csv", b"being written\n")
    lake.publish("spreads/.versions/book=x/date=2026-11-29/d.csv", b"internal\n")
    source = tmp_path / "big.parquet"
    source.write_bytes(bytes(range(256)) * 4096)
    lake.publish_file("spreads/book=eth_mxn/date=2026-11-30/e.parquet", source)

    assert lake.glob("spreads/*/*/*.csv") == [
        "spreads/book=btc_mxn/date=2026-11-29/a.csv",
        "spreads/book=usd_mxn/date=2026-11-29/b.csv",
    ]
    assert lake.glob("spreads/book=*/date=*/*.parquet") == [
        "spreads/book=eth_mxn/date=2026-11-30/e.parquet"
    ]
    assert lake.read_bytes("spreads/book=eth_mxn/date=2026-11-30/e.parquet") == (
        source.read_bytes()
    )
    assert lake.exists("spreads/book=btc_mxn/date=2026-11-29/a.csv")
    assert not lake.exists("spreads/book=btc_mxn/date=2026-11-29/missing.csv")
    assert lake.children("spreads") == [
        ".versions",
        "book=btc_mxn",
        "book=eth_mxn",
        "book=usd_mxn",
    ]


def test_publishing_again_replaces_the_content_and_trees_are_deleted(lake):
    lake.publish("exports/1/a.csv", b"old\n")
    lake.publish("exports/1/a.csv", b"new\n")
    lake.publish("exports/2/a.csv", b"other\n")
    assert lake.read_bytes("exports/1/a.csv") == b"new\n"
    lake.delete_tree("exports/1")
    lake.delete_tree("exports/never")
    assert lake.children("exports") == ["2"]
    assert lake.children("nothing/here") == []


def test_a_local_publication_leaves_no_file_aside(tmp_path):
    lake = open_lake(tmp_path)
    lake.publish("alerts/x.jsonl", b"{}\n")
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == ["x.jsonl"]


def test_an_unreachable_object_store_is_an_oserror_naming_the_object(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    lake = open_lake("s3://nowhere/lake")
    with pytest.raises(LakeStorageError, match=r"s3://nowhere/lake/spreads/a\.csv") as caught:
        lake.publish("spreads/a.csv", b"a\n")
    assert isinstance(caught.value, OSError)
    assert "local-test-secret" not in str(caught.value)


def test_a_version_changes_when_a_file_is_published_again_and_only_then(lake):
    lake.publish("alerts/date=2026-11-29/alerts.jsonl", b"{}\n")
    lake.publish("alerts/date=2026-11-30/alerts.jsonl", b"{}\n")
    first = lake.versions("alerts/date=*/alerts.jsonl")
    assert sorted(first) == [
        "alerts/date=2026-11-29/alerts.jsonl",
        "alerts/date=2026-11-30/alerts.jsonl",
    ]
    assert lake.versions("alerts/date=*/alerts.jsonl") == first
    lake.publish("alerts/date=2026-11-30/alerts.jsonl", b"{}\n{}\n")
    second = lake.versions("alerts/date=*/alerts.jsonl")
    assert (
        second["alerts/date=2026-11-29/alerts.jsonl"]
        == first["alerts/date=2026-11-29/alerts.jsonl"]
    )
    assert (
        second["alerts/date=2026-11-30/alerts.jsonl"]
        != first["alerts/date=2026-11-30/alerts.jsonl"]
    )
