"""The sample generator reproduces the original snapshot formats and quirks, deterministically."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest

from bitso_sandbox.sample import (
    DEPOSITS_FILE,
    EVENTS_FILE,
    USERS_FILE,
    WITHDRAWALS_FILE,
    generate_sample,
    read_user_ids,
)
from ingest.contracts import SNAPSHOT_TABLES

USER = r"[0-9a-f]{32}"
# PostgreSQL timestamptz text: fraction zeros trimmed (so never ending in 0), bare +00.
TIMESTAMPTZ = r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,5}[1-9])?\+00"
AMOUNT = r"-?\d+\.\d{18}"
STATUS = r"(complete|failed)"
EVENT_NAMES = [
    "login",
    "2falogin",
    "login_api",
    "email_verified",
    "level_change_up",
    "cookies_accepted",
    "level_change_down",
    "api_key_deleted",
    "api_key_created",
    "2fa_wrong",
    "2faoff",
    "2faon",
    "account_suspended",
    "country_updated",
    "account_terminated",
    "document_verified",
]
DEPOSIT_LINE = re.compile(rf"\d+,{TIMESTAMPTZ},{USER},({AMOUNT})?,[a-z]+,{STATUS}")
WITHDRAWAL_LINE = re.compile(rf"\d+,{TIMESTAMPTZ},{USER},{AMOUNT},(web|app),[a-z]+,{STATUS}")
EVENT_LINE = re.compile(
    rf"\d+,20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{6}},{USER},({'|'.join(EVENT_NAMES)})"
)
HEADERS = {table.default_file: table.header for table in SNAPSHOT_TABLES}


def _shared_challenge_folder() -> Path | None:
    parents = Path(__file__).resolve().parents
    if len(parents) < 5:
        return None
    folder = parents[4] / "shared" / "bitso_challenge"
    return folder if folder.is_dir() else None


REAL = _shared_challenge_folder()
needs_real_files = pytest.mark.skipif(
    REAL is None, reason="the original challenge files (../shared/bitso_challenge) are absent"
)


def _rows(directory: Path, name: str) -> list[list[str]]:
    lines = (directory / name).read_text().split("\n")
    assert lines[-1] == "", f"{name} must end with a newline"
    return [line.split(",") for line in lines[1:-1]]


def _listed_users(directory: Path) -> list[str]:
    return (directory / USERS_FILE).read_text().split("\n")[2:-1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    directory = tmp_path_factory.mktemp("sample")
    return directory, generate_sample(directory, orphan_users=3)


@pytest.fixture(scope="module")
def out(sample: tuple[Path, dict[str, int]]) -> Path:
    return sample[0]


def test_same_arguments_give_byte_identical_files_and_another_seed_differs(tmp_path: Path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate_sample(tmp_path / name, deposits=2_000, seed=seed, orphan_users=1)
    for file in HEADERS:
        first, again = (tmp_path / "a" / file).read_bytes(), (tmp_path / "b" / file).read_bytes()
        assert first == again, file
        assert first != (tmp_path / "c" / file).read_bytes(), file


def test_only_the_four_files_are_left_behind(out: Path):
    assert sorted(path.name for path in out.iterdir()) == sorted(HEADERS)


def test_headers_are_exact_and_files_are_plain_lf_ascii(out: Path):
    for name, header in HEADERS.items():
        data = (out / name).read_bytes()
        assert data.startswith(header.encode() + b"\n"), name
        assert b"\r" not in data and b'"' not in data, name
        assert data.isascii() and data == data.lower(), name


def test_users_file_has_one_blank_line_after_the_header(out: Path):
    lines = (out / USERS_FILE).read_text().split("\n")
    assert lines[:2] == ["user_id", ""]
    assert all(re.fullmatch(USER, user_id) for user_id in lines[2:-1])
    assert lines[-1] == ""


def test_every_line_matches_its_file_format(out: Path):
    for name, pattern in (
        (DEPOSITS_FILE, DEPOSIT_LINE),
        (WITHDRAWALS_FILE, WITHDRAWAL_LINE),
        (EVENTS_FILE, EVENT_LINE),
    ):
        lines = (out / name).read_text().split("\n")[1:-1]
        bad = [line for line in lines if not pattern.fullmatch(line)]
        assert not bad, f"{name}: {bad[:3]}"


def test_returned_counts_are_the_data_rows_written(sample: tuple[Path, dict[str, int]]):
    directory, counts = sample
    assert counts[USERS_FILE] == len(_listed_users(directory))
    for name in (DEPOSITS_FILE, WITHDRAWALS_FILE, EVENTS_FILE):
        assert counts[name] == len(_rows(directory, name)), name


def test_timestamps_cover_every_fraction_length_and_midnight(out: Path):
    stamps = [row[1] for row in _rows(out, DEPOSITS_FILE) + _rows(out, WITHDRAWALS_FILE)]
    lengths = {len(stamp.split("+")[0].partition(".")[2]) for stamp in stamps}
    assert {0, 1, 2, 3, 6} <= lengths
    assert any(stamp.endswith(" 00:00:00+00") for stamp in stamps)


def test_all_timestamps_fall_inside_the_data_window(out: Path):
    for name in (DEPOSITS_FILE, WITHDRAWALS_FILE, EVENTS_FILE):
        days = {row[1][:10] for row in _rows(out, name)}
        assert min(days) >= "2020-01-02" and max(days) <= "2023-08-23", name


def test_deposits_include_empty_amounts(out: Path):
    assert any(row[3] == "" for row in _rows(out, DEPOSITS_FILE))


def test_exactly_one_negative_withdrawal_of_minus_ten_that_failed(out: Path):
    negative = [row for row in _rows(out, WITHDRAWALS_FILE) if row[3].startswith("-")]
    assert [(row[3], row[6]) for row in negative] == [("-10.000000000000000000", "failed")]


def test_absurd_withdrawals_exceed_a_billion_and_are_complete(out: Path):
    absurd = [row for row in _rows(out, WITHDRAWALS_FILE) if float(row[3]) > 1e9]
    assert absurd and all(row[6] == "complete" for row in absurd)
    assert max(float(row[3]) for row in absurd) == 6_827_677_768_780


def test_some_withdrawals_share_user_and_timestamp(out: Path):
    pairs = Counter((row[2], row[1]) for row in _rows(out, WITHDRAWALS_FILE))
    assert max(pairs.values()) >= 2


def test_withdrawals_mix_web_and_app_and_fail_often(out: Path):
    rows = _rows(out, WITHDRAWALS_FILE)
    web = sum(row[4] == "web" for row in rows) / len(rows)
    failed = sum(row[6] == "failed" for row in rows) / len(rows)
    assert 0.6 < web < 0.95
    assert 0.15 < failed < 0.5


def test_deposits_rarely_fail(out: Path):
    statuses = Counter(row[5] for row in _rows(out, DEPOSITS_FILE))
    assert 0 < statuses["failed"] < 0.02 * statuses["complete"]


def test_currencies_include_the_typo_pair_and_are_led_by_mxn_usd_btc(out: Path):
    deposits = Counter(row[4] for row in _rows(out, DEPOSITS_FILE))
    withdrawals = Counter(row[5] for row in _rows(out, WITHDRAWALS_FILE))
    everything = deposits + withdrawals
    assert 55 <= len(everything) <= 65
    assert {"paxg", "pagx", "tigres", "pepe"} <= set(deposits)
    assert {"tigres", "pepe"} <= set(withdrawals)
    assert deposits["pagx"] < deposits["paxg"]
    assert {code for code, _ in everything.most_common(3)} == {"mxn", "usd", "btc"}


def test_all_sixteen_event_names_with_2falogin_the_usual_login(out: Path):
    rows = _rows(out, EVENTS_FILE)
    assert {row[3] for row in rows} == set(EVENT_NAMES)
    login_users = {name: {row[2] for row in rows if row[3] == name} for name in EVENT_NAMES}
    any_login = login_users["login"] | login_users["2falogin"] | login_users["login_api"]
    assert len(login_users["2falogin"]) > 2 * len(login_users["login"])
    assert len(any_login) > 0.85 * len(_listed_users(out))


def test_files_are_ordered_neither_by_id_nor_by_time(out: Path):
    for name in (DEPOSITS_FILE, WITHDRAWALS_FILE, EVENTS_FILE):
        rows = _rows(out, name)
        ids = [int(row[0]) for row in rows]
        stamps = [row[1] for row in rows]
        assert ids != sorted(ids), name
        assert stamps != sorted(stamps), name


def test_deposits_and_withdrawals_share_one_id_space_with_gaps(out: Path):
    deposit_ids = [int(row[0]) for row in _rows(out, DEPOSITS_FILE)]
    withdrawal_ids = [int(row[0]) for row in _rows(out, WITHDRAWALS_FILE)]
    together = deposit_ids + withdrawal_ids
    assert len(set(together)) == len(together)
    # Interleaved, not two blocks: nearly all withdrawal ids fall between deposit ids.
    inside = [i for i in withdrawal_ids if min(deposit_ids) < i < max(deposit_ids)]
    assert len(inside) > 0.9 * len(withdrawal_ids)
    assert max(together) - min(together) + 1 > len(together)


def test_event_ids_are_unique_and_counted_apart_from_transactions(out: Path):
    event_ids = [int(row[0]) for row in _rows(out, EVENTS_FILE)]
    transaction_ids = {int(row[0]) for row in _rows(out, DEPOSITS_FILE)}
    assert len(set(event_ids)) == len(event_ids)
    # A shared counter could never hand out the same number twice.
    assert transaction_ids & set(event_ids)


def test_every_referenced_user_is_listed_except_the_orphans(out: Path):
    listed = set(_listed_users(out))
    depositors = {row[2] for row in _rows(out, DEPOSITS_FILE)}
    assert {row[2] for row in _rows(out, WITHDRAWALS_FILE)} <= listed
    assert {row[2] for row in _rows(out, EVENTS_FILE)} - listed <= depositors - listed
    assert len(depositors - listed) == 3


def test_deposits_are_skewed_and_half_the_users_never_deposit(out: Path):
    rows = _rows(out, DEPOSITS_FILE)
    per_user = Counter(row[2] for row in rows)
    top_five = sum(count for _, count in per_user.most_common(5))
    assert 0.45 < top_five / len(rows) < 0.55
    never = set(_listed_users(out)) - set(per_user)
    assert 0.35 < len(never) / len(_listed_users(out)) < 0.6


def test_spike_day_has_by_far_the_most_depositing_users(out: Path):
    users_per_day: dict[str, set[str]] = {}
    for row in _rows(out, DEPOSITS_FILE):
        users_per_day.setdefault(row[1][:10], set()).add(row[2])
    busiest = sorted(users_per_day, key=lambda day: len(users_per_day[day]), reverse=True)
    assert busiest[0] == "2021-02-19"
    assert len(users_per_day[busiest[0]]) > 3 * len(users_per_day[busiest[1]])


def test_small_default_keeps_minimum_volumes(sample: tuple[Path, dict[str, int]]):
    counts = sample[1]
    assert counts[DEPOSITS_FILE] == 20_000
    assert counts[USERS_FILE] >= 300
    assert counts[WITHDRAWALS_FILE] >= 300
    assert counts[EVENTS_FILE] >= 2_000


def test_larger_volumes_scale_from_the_original_ratios(tmp_path: Path):
    counts = generate_sample(tmp_path, deposits=161_827, seed=3)
    assert counts[DEPOSITS_FILE] == 161_827
    assert counts[USERS_FILE] == round(25_699 / 10)
    assert counts[WITHDRAWALS_FILE] == round(5_098 / 10)
    assert counts[EVENTS_FILE] == round(105_744 / 10)


def test_given_user_ids_are_the_population_in_their_order(tmp_path: Path):
    given = [hashlib.md5(f"given {i}".encode()).hexdigest() for i in range(120)]
    generate_sample(tmp_path, deposits=2_000, user_ids=given)
    assert _listed_users(tmp_path) == given
    for name in (DEPOSITS_FILE, WITHDRAWALS_FILE, EVENTS_FILE):
        assert {row[2] for row in _rows(tmp_path, name)} <= set(given), name


def test_read_user_ids_skips_the_header_and_blank_line(tmp_path: Path):
    path = tmp_path / "users.csv"
    path.write_text("user_id\n\n" + "a" * 32 + "\n" + "b" * 32 + "\n")
    assert read_user_ids(path) == ["a" * 32, "b" * 32]
    path.write_text("id\n" + "a" * 32 + "\n")
    with pytest.raises(ValueError, match="user_id"):
        read_user_ids(path)


def test_bad_arguments_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="deposits"):
        generate_sample(tmp_path, deposits=10)
    with pytest.raises(ValueError, match="hex"):
        generate_sample(tmp_path, user_ids=["NOT-AN-ID"] * 60)
    assert not any(tmp_path.iterdir())


@needs_real_files
def test_generated_withdrawals_have_the_real_file_format(out: Path):
    real = (REAL / WITHDRAWALS_FILE).read_text().split("\n")
    ours = (out / WITHDRAWALS_FILE).read_text().split("\n")
    assert real[0] == ours[0] and real[-1] == ours[-1] == ""
    assert all(WITHDRAWAL_LINE.fullmatch(line) for line in real[1:-1])
    assert all(WITHDRAWAL_LINE.fullmatch(line) for line in ours[1:-1])


@needs_real_files
def test_real_users_file_reads_back_and_shares_our_layout(out: Path):
    ids = read_user_ids(REAL / USERS_FILE)
    assert len(ids) == len(set(ids)) == 25_699
    assert all(re.fullmatch(USER, user_id) for user_id in ids)
    real_start = (REAL / USERS_FILE).read_bytes()[: len(b"user_id\n\n")]
    assert (out / USERS_FILE).read_bytes().startswith(real_start)
