"""Seeded, deterministic sample snapshots shaped like the Bitso challenge files.

Two of the four original files (deposits, events) are not available, so tests and demos run on
files made here. They match the originals' formats exactly and carry the quirks the models must
survive: a users file with a blank second line, trimmed `timestamptz` text, 18-decimal amounts,
empty, negative and absurd amounts, batched withdrawals, a typo currency, a deposit population
dominated by five users and a spike day. `deposits` drives the volume; every other count scales
from the original ratios.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import TextIO

from ingest.contracts import (
    DEPOSITS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
)

# The files are the snapshot contract's, under their usual names.
DEPOSITS_FILE = DEPOSITS_SNAPSHOT.default_file
WITHDRAWALS_FILE = WITHDRAWALS_SNAPSHOT.default_file
EVENTS_FILE = EVENTS_SNAPSHOT.default_file
USERS_FILE = USERS_SNAPSHOT.default_file

# Volumes of the original snapshot; the other files scale from `deposits` by these ratios.
ORIGINAL_DEPOSITS = 1_618_271
ORIGINAL_WITHDRAWALS = 5_098
ORIGINAL_EVENTS = 105_744
ORIGINAL_USERS = 25_699

# Below these the quirks (spike day, batches, login mix) have too few rows to show.
MIN_DEPOSITS = 1_000
MIN_USERS = 400
MIN_WITHDRAWALS = 300
MIN_EVENTS = 3_000
MIN_GIVEN_USERS = 50

FIRST_DAY = date(2020, 1, 2)
LAST_DAY = date(2023, 8, 23)
SPIKE_DAY = date(2021, 2, 19)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
SPIKE_INDEX = (SPIKE_DAY - FIRST_DAY).days

# Shapes measured on the original data (counts at full volume).
DEPOSITOR_SHARE = 13_468 / 25_699  # users with at least one deposit
HEAVY_SHARE = 4_277 / 13_468  # depositors with more than five deposits
SPIKE_SHARE = 8_834 / 13_468  # depositors active on the spike day
WHALES = 5
WHALE_SHARE = 0.5  # five users hold about half of all deposits
WITHDRAWING_USERS = 324 / 5_098  # distinct withdrawing users per withdrawal
LOGIN_SHARE = 24_189 / 25_699  # users with any login event
PLAIN_LOGIN_SHARE = 5_304 / 24_189  # of those, users with a plain `login`
API_LOGIN_SHARE = 0.03
DEPOSIT_FAILED_SHARE = 0.004
WITHDRAWAL_FAILED_SHARE = 1_847 / 5_098  # over a third of the original withdrawals failed
HOME_CURRENCY_SHARE = 0.75  # rows in the user's usual currency
MICROSECOND_SHARE = 0.005  # rows stored with full microseconds rather than milliseconds
ID_GAP_SHARE = 0.04
EVENT_ID_GAP_SHARE = 0.01

EMPTY_AMOUNTS = 12  # deposits without an amount
ABSURD_AMOUNTS = 8  # withdrawals above 1e9
WITHDRAWAL_BATCHES = 13  # (user, timestamp) pairs shared by several withdrawals
MIDNIGHT_DEPOSITS = 40
MIDNIGHT_WITHDRAWALS = 2
LARGEST_ABSURD_AMOUNT = 6_827_677_768_780

# Relative daily activity: a quiet 2020, the early-2021 boom, a long decline after it.
ACTIVITY_ANCHORS = (
    (FIRST_DAY, 0.02),
    (date(2020, 7, 1), 0.05),
    (date(2020, 11, 1), 0.2),
    (date(2021, 2, 1), 1.0),
    (date(2021, 5, 31), 1.0),
    (date(2021, 12, 31), 0.6),
    (date(2022, 6, 30), 0.4),
    (LAST_DAY, 0.3),
)

# (code, deposit weight, withdrawal weight, typical amount). Weight 0: never withdrawn.
CURRENCIES = (
    ("mxn", 400, 2342, 500),
    ("usd", 150, 638, 50),
    ("btc", 120, 447, 0.002),
    ("brl", 40, 425, 100),
    ("ars", 35, 286, 5_000),
    ("eth", 40, 218, 0.05),
    ("xrp", 30, 197, 100),
    ("cop", 15, 144, 100_000),
    ("dai", 12, 105, 20),
    ("usdt", 15, 39, 50),
    ("ltc", 8, 34, 0.5),
    ("tusd", 5, 33, 50),
    ("ada", 6, 30, 100),
    ("ape", 2, 19, 10),
    ("bch", 3, 16, 0.2),
    ("bat", 3, 16, 100),
    ("mana", 3, 15, 100),
    ("tigres", 0.5, 10, 100),
    ("grt", 1.5, 9, 200),
    ("matic", 2, 8, 50),
    ("eur", 1, 8, 50),
    ("dot", 2, 7, 5),
    ("aave", 1, 7, 0.5),
    ("sol", 2, 5, 1),
    ("gala", 1, 5, 1_000),
    ("dydx", 0.5, 5, 20),
    ("pepe", 0.5, 4, 1_000_000),
    ("crv", 0.5, 4, 50),
    ("trx", 0.5, 3, 500),
    ("comp", 0.5, 3, 0.5),
    ("sushi", 0.4, 2, 20),
    ("doge", 1.5, 2, 200),
    ("chz", 0.4, 2, 200),
    ("atom", 0.5, 2, 5),
    ("yfi", 0.3, 1, 0.005),
    ("shib", 1, 1, 1_000_000),
    ("lrc", 0.3, 1, 100),
    ("link", 1, 1, 5),
    ("ldo", 0.3, 1, 20),
    ("gnt", 0.2, 1, 100),
    ("ftm", 0.3, 1, 100),
    ("avax", 0.5, 1, 2),
    ("usdc", 4, 0, 50),
    ("paxg", 3, 0, 0.05),
    ("pagx", 0.005, 0, 0.05),  # the typo twin of paxg: rare, but present
    ("xlm", 1, 0, 200),
    ("uni", 0.8, 0, 10),
    ("mkr", 0.3, 0, 0.05),
    ("omg", 0.3, 0, 20),
    ("snx", 0.3, 0, 20),
    ("enj", 0.4, 0, 100),
    ("axs", 0.5, 0, 5),
    ("sand", 0.6, 0, 100),
    ("bal", 0.2, 0, 5),
    ("zrx", 0.2, 0, 100),
    ("knc", 0.2, 0, 50),
    ("algo", 0.4, 0, 100),
    ("near", 0.3, 0, 20),
    ("qnt", 0.1, 0, 1),
    ("xtz", 0.2, 0, 50),
)
FIAT = frozenset({"mxn", "usd", "brl", "ars", "cop", "eur"})
WHALE_HOMES = ("mxn", "usd", "btc", "mxn", "usd")

LOGIN_EVENTS = ("2falogin", "login", "login_api")
# Weights for events beyond each user's first logins; all 16 names of the original.
EVENT_WEIGHTS = (
    ("2falogin", 40),
    ("login", 8),
    ("login_api", 2),
    ("email_verified", 7),
    ("cookies_accepted", 6),
    ("document_verified", 5),
    ("level_change_up", 5),
    ("country_updated", 3),
    ("2faon", 3),
    ("2fa_wrong", 2),
    ("2faoff", 1.2),
    ("api_key_created", 1),
    ("api_key_deleted", 0.6),
    ("level_change_down", 0.5),
    ("account_suspended", 0.3),
    ("account_terminated", 0.1),
)
EVENT_NAMES = tuple(name for name, _ in EVENT_WEIGHTS)

_USER_ID = re.compile(r"[0-9a-f]{32}")
_DAY_US = 86_400_000_000
# Scales that map one uniform draw to a time of day; a hair under a full day so that float
# rounding can never produce 24:00:00.
_MICRO_SCALE = (_DAY_US - 1) / MICROSECOND_SHARE
_MILLI_SCALE = (_DAY_US // 1000 - 0.001) / (1 - MICROSECOND_SHARE)


def generate_sample(
    directory: Path,
    *,
    deposits: int = 20_000,
    seed: int = 42,
    user_ids: Sequence[str] | None = None,
    orphan_users: int = 0,
) -> dict[str, int]:
    """Write the four sample files into `directory`; return {file name: data rows written}.

    `user_ids` replaces the generated population (written to the users file in the given
    order); `orphan_users` adds that many depositors missing from the users file.
    The same arguments always give byte-identical files.
    """
    if deposits < MIN_DEPOSITS:
        raise ValueError(f"deposits must be at least {MIN_DEPOSITS}, got {deposits}")
    if not 0 <= orphan_users <= deposits // 10:
        raise ValueError(f"orphan_users must be between 0 and deposits/10, got {orphan_users}")
    scale = deposits / ORIGINAL_DEPOSITS
    if user_ids is None:
        listed = _hex_ids(seed, "user", max(MIN_USERS, round(ORIGINAL_USERS * scale)))
    else:
        listed = _checked_user_ids(user_ids)
    withdrawals = max(MIN_WITHDRAWALS, round(ORIGINAL_WITHDRAWALS * scale))
    events = max(MIN_EVENTS, round(ORIGINAL_EVENTS * scale))

    rng = Random(seed)
    calendar = _Calendar(rng)
    pools = {code: _amount_pool(rng, code, typical) for code, *_, typical in CURRENCIES}
    orphans = _orphan_ids(seed, listed, orphan_users)
    population = _plan_population(rng, calendar, listed, orphans, deposits)
    planned = _plan_withdrawals(rng, calendar, population, pools, withdrawals, scale)
    event_rows = _plan_events(rng, calendar, population, events)

    directory = Path(directory)
    names = (DEPOSITS_FILE, WITHDRAWALS_FILE, EVENTS_FILE, USERS_FILE)
    with _atomic_outputs(directory, names) as out:
        deposit_count, withdrawal_lines = _write_transactions(
            out[DEPOSITS_FILE], rng, calendar, population, pools, planned, deposits, scale
        )
        out[WITHDRAWALS_FILE].write(WITHDRAWALS_SNAPSHOT.header + "\n")
        shuffler = _RunShuffler(out[WITHDRAWALS_FILE], rng, len(withdrawal_lines))
        for line in withdrawal_lines:
            shuffler.add(line)
        shuffler.close()
        event_count = _write_events(out[EVENTS_FILE], rng, calendar, population, event_rows)
        users = out[USERS_FILE]
        # The original has one empty line between the header and the ids.
        users.write(USERS_SNAPSHOT.header + "\n\n")
        users.writelines(user_id + "\n" for user_id in listed)
    return {
        DEPOSITS_FILE: deposit_count,
        WITHDRAWALS_FILE: len(withdrawal_lines),
        EVENTS_FILE: event_count,
        USERS_FILE: len(listed),
    }


def read_user_ids(path: Path) -> list[str]:
    """Read a users file (header `user_id`, usually a blank line, then one id a line)."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    if not lines or lines[0].strip() != USERS_SNAPSHOT.header:
        found = lines[0][:40] if lines else "an empty file"
        raise ValueError(f"{path}: expected the header {USERS_SNAPSHOT.header!r}, found {found!r}")
    return [line.strip() for line in lines[1:] if line.strip()]


def _hex_ids(seed: int, kind: str, count: int) -> list[str]:
    return [hashlib.md5(f"sample:{seed}:{kind}:{i}".encode()).hexdigest() for i in range(count)]


def _checked_user_ids(user_ids: Sequence[str]) -> list[str]:
    listed = list(user_ids)
    if len(listed) < MIN_GIVEN_USERS:
        raise ValueError(f"user_ids needs at least {MIN_GIVEN_USERS} ids, got {len(listed)}")
    bad = next((user_id for user_id in listed if not _USER_ID.fullmatch(user_id)), None)
    if bad is not None:
        raise ValueError(f"user_ids must be 32-character lower-case hex, got {bad!r}")
    if len(set(listed)) != len(listed):
        raise ValueError("user_ids contains duplicates")
    return listed


def _orphan_ids(seed: int, listed: list[str], count: int) -> list[str]:
    taken = set(listed)
    orphans: list[str] = []
    i = 0
    while len(orphans) < count:
        (candidate,) = _hex_ids(seed, f"orphan{i}", 1)
        if candidate not in taken:
            orphans.append(candidate)
        i += 1
    return orphans


class _Calendar:
    """The data window as day indexes, with a noisy activity curve to draw days from."""

    def __init__(self, rng: Random) -> None:
        anchors = [((day - FIRST_DAY).days, weight) for day, weight in ACTIVITY_ANCHORS]
        weights: list[float] = []
        for (d0, w0), (d1, w1) in zip(anchors, anchors[1:], strict=False):
            for day in range(d0, d1):
                weights.append(w0 + (w1 - w0) * (day - d0) / (d1 - d0))
        weights.append(anchors[-1][1])
        self.cum = list(accumulate(w * (0.75 + 0.5 * rng.random()) for w in weights))
        self.prefixes = [(FIRST_DAY + timedelta(days=i)).isoformat() + " " for i in range(DAYS)]

    def day(self, r: float, lo: int = 0, hi: int = DAYS - 1) -> int:
        """Map a uniform draw to a day in [lo, hi], following the activity curve."""
        cum = self.cum
        base = cum[lo - 1] if lo else 0.0
        return bisect_right(cum, base + r * (cum[hi] - base), lo, hi)


def _time_of_day(r: float) -> int:
    """Microseconds after midnight: mostly whole milliseconds, a few full microseconds."""
    if r < MICROSECOND_SHARE:
        return int(r * _MICRO_SCALE)
    return int((r - MICROSECOND_SHARE) * _MILLI_SCALE) * 1000


def _amount_pool(rng: Random, code: str, typical: float) -> list[str]:
    """Formatted amounts to draw from: round 1-2-5 values (people type those) and a spread."""
    ladder = [
        step * 10**exponent
        for exponent in range(-8, 13)
        for step in (1, 2, 5)
        if typical / 200 <= step * 10**exponent <= typical * 200
    ]
    values: list[float] = [v for v in ladder for _ in range(4)]
    while len(values) < 3 * len(ladder) + 300:
        value = typical * rng.lognormvariate(0, 1.4)
        if code in FIAT:
            value = round(value) if rng.random() < 0.6 else round(value, 2)
        values.append(value)
    return [_format_amount(round(v * 10**8) or 1) for v in values]


def _format_amount(units: int) -> str:
    """Render an amount held in 1e-8 units with the original's 18 decimals."""
    whole, fraction = divmod(units, 10**8)
    return f"{whole}.{fraction:08d}0000000000"


def _spread(total: int, weights: Sequence[float], floor: int) -> list[int]:
    """Split `total` into integers of at least `floor`, the rest in proportion to `weights`."""
    scale = (total - floor * len(weights)) / sum(weights)
    shares = [w * scale for w in weights]
    counts = [floor + int(share) for share in shares]
    short = total - sum(counts)
    by_remainder = sorted(range(len(shares)), key=lambda i: int(shares[i]) - shares[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    return counts


@dataclasses.dataclass
class _Population:
    ids: list[str]  # the listed users, then the orphans
    start: array  # first active day per user
    end: array  # last active day per user
    home: list[str]  # usual currency per user
    deposits: list[int]  # deposits per user
    spike: set[int]  # users with a deposit on the spike day
    depositors: list[int]
    listed: int


def _plan_population(
    rng: Random, calendar: _Calendar, listed: list[str], orphans: list[str], deposits: int
) -> _Population:
    total_users = len(listed) + len(orphans)
    population = _Population(
        ids=listed + orphans,
        start=array("H", [0]) * total_users,
        end=array("H", [0]) * total_users,
        home=[""] * total_users,
        deposits=[0] * total_users,
        spike=set(),
        depositors=[],
        listed=len(listed),
    )
    _plan_deposits(rng, calendar, population, deposits)
    return population


def _plan_deposits(rng: Random, calendar: _Calendar, population: _Population, total: int) -> None:
    """Decide who deposits how often and when each user is active (fills `population`)."""
    users = population.listed
    everyone = range(len(population.ids))
    orphans = range(users, len(population.ids))
    whales = rng.sample(range(users), WHALES)
    whale_rows = round(total * WHALE_SHARE)
    counts = population.deposits
    for orphan in orphans:
        counts[orphan] = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
    rest = total - whale_rows - sum(counts)
    is_whale = set(whales)
    others = [user for user in range(users) if user not in is_whale]
    target = round(DEPOSITOR_SHARE * users) - WHALES
    regular = rng.sample(others, max(1, min(target, len(others), rest // 2)))
    heavy = min(len(regular), max(0, round(HEAVY_SHARE * (len(regular) + WHALES)) - WHALES))
    light = len(regular) - heavy
    light_counts = rng.choices((1, 2, 3, 4, 5), weights=(45, 22, 14, 11, 8), k=light)
    heavy_budget = rest - sum(light_counts)
    if heavy == 0:
        whale_rows += heavy_budget
        regular_counts = light_counts
    elif heavy_budget >= 6 * heavy:
        weights = [_capped_weight(rng) for _ in range(heavy)]
        regular_counts = light_counts + _spread(heavy_budget, weights, 6)
    else:
        # Too few rows for the measured mix (a large given population): keep everyone at one+.
        regular_counts = _spread(rest, [_capped_weight(rng) for _ in regular], 1)
    whale_weights = [w * (0.8 + 0.4 * rng.random()) for w in (30, 24, 19, 15, 12)]
    for whale, count in zip(whales, _spread(whale_rows, whale_weights, 1), strict=True):
        counts[whale] = count
    for user, count in zip(regular, regular_counts, strict=True):
        counts[user] = count
    population.depositors = whales + regular + list(orphans)
    spike = round(SPIKE_SHARE * (len(regular) + WHALES))
    population.spike = set(rng.sample(regular, min(spike, len(regular))))

    homes = [code for code, *_ in CURRENCIES]
    home_weights = [weight for _, weight, *_ in CURRENCIES]
    for user in everyone:
        start = calendar.day(rng.random())
        if user in is_whale:
            start = rng.randrange(150)
            end = DAYS - 1 - rng.randrange(60)
        elif counts[user] > 5:
            end = start + rng.randrange(90, DAYS)
        elif counts[user]:
            end = start + int(rng.expovariate(1 / 120))
        else:
            end = start + int(rng.expovariate(1 / 200))
        population.start[user] = start
        population.end[user] = min(end, DAYS - 1)
        population.home[user] = rng.choices(homes, weights=home_weights)[0]
    for whale, home in zip(whales, WHALE_HOMES, strict=True):
        population.home[whale] = home


def _capped_weight(rng: Random) -> float:
    # A heavy tail, but with a jittered cap so that even at small volumes no regular user
    # rivals the five whales, and the biggest regulars do not all end up with one count.
    return min(rng.lognormvariate(0, 1.5), rng.uniform(8, 14))


@dataclasses.dataclass
class _Withdrawal:
    day: int
    time: int
    user: int
    amount: str
    interface: str
    currency: str
    status: str


def _plan_withdrawals(
    rng: Random,
    calendar: _Calendar,
    population: _Population,
    pools: dict[str, list[str]],
    total: int,
    scale: float,
) -> dict[int, list[_Withdrawal]]:
    """All withdrawals, quirks included, grouped by day and ordered by time within a day."""
    codes = [code for code, _, weight, _ in CURRENCIES if weight]
    cum = list(accumulate(weight for _, _, weight, _ in CURRENCIES if weight))
    withdrawable = set(codes)

    def currency(user: int) -> str:
        home = population.home[user]
        if home in withdrawable and rng.random() < HOME_CURRENCY_SHARE:
            return home
        return codes[bisect_right(cum, rng.random() * cum[-1])]

    users = population.listed
    wanted = min(users, max(10, round(total * WITHDRAWING_USERS)))
    depositors = [user for user in population.depositors if user < users]
    from_depositors = rng.sample(depositors, min(len(depositors), round(wanted * 0.9)))
    chosen = set(from_depositors)
    others = [user for user in range(users) if user not in chosen]
    withdrawers = from_depositors + rng.sample(others, wanted - len(from_depositors))
    counts = _spread(total, [rng.lognormvariate(0, 1.3) for _ in withdrawers], 1)

    rows: list[_Withdrawal] = []
    for user, count in zip(withdrawers, counts, strict=True):
        web_share = 0.9 if rng.random() < 0.85 else 0.35  # people lean to web or to the app
        lo, hi = population.start[user], population.end[user]
        for _ in range(count):
            code = currency(user)
            rows.append(
                _Withdrawal(
                    day=calendar.day(rng.random(), lo, hi),
                    time=_time_of_day(rng.random()),
                    user=user,
                    amount=rng.choice(pools[code]),
                    interface="web" if rng.random() < web_share else "app",
                    currency=code,
                    status="failed" if rng.random() < WITHDRAWAL_FAILED_SHARE else "complete",
                )
            )

    absurd = max(2, round(ABSURD_AMOUNTS * scale))
    batches = max(1, round(WITHDRAWAL_BATCHES * scale))
    midnight = max(1, round(MIDNIGHT_WITHDRAWALS * scale))
    followers = [1 + (rng.random() < 0.3) for _ in range(batches)]
    picked = iter(rng.sample(range(total), 1 + absurd + 2 + midnight + batches + sum(followers)))

    negative = rows[next(picked)]
    negative.amount, negative.status = "-" + _format_amount(10 * 10**8), "failed"
    # The absurd amounts come as one burst: a single user typing huge numbers for minutes.
    burst = [rows[next(picked)] for _ in range(absurd)]
    leader = burst[0]
    moment = min(leader.time, _DAY_US - absurd * 150_000_000)
    for i, row in enumerate(burst):
        row.day, row.user, row.interface, row.status = leader.day, leader.user, "app", "complete"
        moment += rng.randrange(20_000, 150_000) * 1000
        row.time = moment
        row.currency = "ars" if rng.random() < 0.8 else "usd"
        row.amount = _format_amount(_absurd_amount(rng, first=i == 0) * 10**8)
    for code in ("tigres", "pepe"):
        row = rows[next(picked)]
        row.currency, row.amount = code, rng.choice(pools[code])
    for _ in range(midnight):
        rows[next(picked)].time = 0
    for extra in followers:
        batch_leader = rows[next(picked)]
        for _ in range(extra):
            rows[next(picked)] = dataclasses.replace(batch_leader)

    by_day: dict[int, list[_Withdrawal]] = {}
    for row in rows:
        by_day.setdefault(row.day, []).append(row)
    for day_rows in by_day.values():
        day_rows.sort(key=lambda row: row.time)
    return by_day


def _absurd_amount(rng: Random, *, first: bool) -> int:
    if first:
        return LARGEST_ABSURD_AMOUNT
    if rng.random() < 0.5:
        digit, length = rng.randint(1, 6), rng.randint(10, 13)
        return int(str(digit) * length)
    return rng.randint(1, 5) * 10 ** rng.randint(9, 12)


def _write_transactions(
    out: TextIO,
    rng: Random,
    calendar: _Calendar,
    population: _Population,
    pools: dict[str, list[str]],
    withdrawals: dict[int, list[_Withdrawal]],
    total: int,
    scale: float,
) -> tuple[int, list[str]]:
    """Stream the deposits file day by day; return its row count and the withdrawal lines.

    Deposits and withdrawals draw ids from one counter in time order (with gaps), so they have
    to be produced together even though only the deposits are large enough to need streaming.
    """
    buckets = _deposit_days(rng, calendar, population)
    midnight_days = set(
        rng.sample(
            [day for day in range(DAYS) if buckets[day]], max(2, round(MIDNIGHT_DEPOSITS * scale))
        )
    )
    specials: dict[int, str | None] = dict.fromkeys(
        rng.sample(range(total), len(CURRENCIES) + max(1, round(EMPTY_AMOUNTS * scale)))
    )
    # Every currency at least once, whatever the volume; the remaining picks lose their amount.
    for seq, (code, *_) in zip(specials, CURRENCIES, strict=False):
        specials[seq] = code

    codes = [code for code, *_ in CURRENCIES]
    cum = list(accumulate(weight for _, weight, *_ in CURRENCIES))
    pick_scale = cum[-1] / (1 - HOME_CURRENCY_SHARE)
    hms = _clock()
    milli = [f".{ms:03d}".rstrip("0").rstrip(".") for ms in range(1000)]
    random = rng.random
    ids, home = population.ids, population.home

    out.write(DEPOSITS_SNAPSHOT.header + "\n")
    shuffler = _RunShuffler(out, rng, total)
    add = shuffler.add
    withdrawal_lines: list[str] = []
    tx_id = rng.randint(1_000, 2_000)
    seq = 0
    for day in range(DAYS):
        users = buckets[day].tolist()
        buckets[day] = None
        rng.shuffle(users)
        keys = [_time_of_day(random()) << 1 for _ in users]
        if day in midnight_days:
            keys[0] = 0
        day_withdrawals = withdrawals.get(day, [])
        keys.extend(row.time << 1 | 1 for row in day_withdrawals)
        keys.sort()
        prefix = calendar.prefixes[day]
        deposit_i = withdrawal_i = 0
        for key in keys:
            second, micros = divmod(key >> 1, 1_000_000)
            # Trailing zeros of the fraction are trimmed, as PostgreSQL prints timestamptz.
            fraction = milli[micros // 1000] if micros % 1000 == 0 else f".{micros:06d}".rstrip("0")
            timestamp = f"{prefix}{hms[second]}{fraction}+00"
            tx_id += 1 if random() >= ID_GAP_SHARE else rng.randint(2, 60)
            if key & 1:
                row = day_withdrawals[withdrawal_i]
                withdrawal_i += 1
                withdrawal_lines.append(
                    f"{tx_id},{timestamp},{ids[row.user]},{row.amount},"
                    f"{row.interface},{row.currency},{row.status}\n"
                )
                continue
            user = users[deposit_i]
            deposit_i += 1
            r = random()
            if r < HOME_CURRENCY_SHARE:
                code = home[user]
            else:
                code = codes[bisect_right(cum, (r - HOME_CURRENCY_SHARE) * pick_scale)]
            amount = _pick(pools[code], random())
            if seq in specials:
                forced = specials[seq]
                if forced is None:
                    amount = ""
                else:
                    code, amount = forced, _pick(pools[forced], random())
            seq += 1
            status = "failed" if random() < DEPOSIT_FAILED_SHARE else "complete"
            add(f"{tx_id},{timestamp},{ids[user]},{amount},{code},{status}\n")
    shuffler.close()
    return seq, withdrawal_lines


def _clock() -> list[str]:
    """`HH:MM:SS` for every second of a day, indexed by second."""
    return [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def _pick(pool: list[str], r: float) -> str:
    return pool[int(r * len(pool))]


def _deposit_days(rng: Random, calendar: _Calendar, population: _Population) -> list[array]:
    """Per day, the users depositing that day (once per deposit), in no particular order."""
    buckets = [array("I") for _ in range(DAYS)]
    cum, random = calendar.cum, rng.random
    for user, count in enumerate(population.deposits):
        if not count:
            continue
        if user in population.spike:
            buckets[SPIKE_INDEX].append(user)
            count -= 1
        lo, hi = population.start[user], population.end[user]
        base = cum[lo - 1] if lo else 0.0
        span = cum[hi] - base
        for _ in range(count):
            buckets[bisect_right(cum, base + random() * span, lo, hi)].append(user)
    return buckets


def _plan_events(
    rng: Random, calendar: _Calendar, population: _Population, total: int
) -> list[tuple[int, int, int, str]]:
    """(day, microsecond of day, user, event name) for every event, in no particular order."""
    listed = population.listed
    kinds: list[tuple[str, ...]] = []
    for user in range(len(population.ids)):
        # Orphans show up in events only half the time; listed users almost always sign in.
        if user >= listed and rng.random() < 0.5:
            kinds.append(())
            continue
        if rng.random() >= LOGIN_SHARE:
            kinds.append(())
            continue
        plain = rng.random() < PLAIN_LOGIN_SHARE
        two_factor = rng.random() < 0.9 or not plain
        api = rng.random() < API_LOGIN_SHARE
        kinds.append(
            tuple(k for k, on in zip(LOGIN_EVENTS, (two_factor, plain, api), strict=True) if on)
        )

    planned: list[tuple[int, str]] = [(u, k) for u, ks in enumerate(kinds) for k in ks]
    for name in EVENT_NAMES:
        if not any(kind == name for ks in kinds for kind in ks):
            planned.append((rng.randrange(listed), name))

    names = [name for name, _ in EVENT_WEIGHTS]
    cum = list(accumulate(weight for _, weight in EVENT_WEIGHTS))
    other_names = [name for name in names if name not in LOGIN_EVENTS]
    other_cum = list(accumulate(w for name, w in EVENT_WEIGHTS if name not in LOGIN_EVENTS))
    # Depositors are twice as likely as the rest to produce any further event.
    active = list(range(listed)) + [u for u in population.depositors if u < listed]
    for _ in range(total - len(planned)):
        user = active[int(rng.random() * len(active))]
        name = names[bisect_right(cum, rng.random() * cum[-1])]
        if name in LOGIN_EVENTS and name not in kinds[user]:
            if kinds[user]:
                name = kinds[user][0]
            else:
                name = other_names[bisect_right(other_cum, rng.random() * other_cum[-1])]
        planned.append((user, name))

    rows = []
    for user, name in planned:
        day = calendar.day(rng.random(), population.start[user], population.end[user])
        rows.append((day, _time_of_day(rng.random()), user, name))
    return rows


def _write_events(
    out: TextIO,
    rng: Random,
    calendar: _Calendar,
    population: _Population,
    rows: list[tuple[int, int, int, str]],
) -> int:
    rows.sort()
    hms = _clock()
    out.write(EVENTS_SNAPSHOT.header + "\n")
    shuffler = _RunShuffler(out, rng, len(rows))
    event_id = 0
    for day, micros, user, name in rows:
        event_id += 1 if rng.random() >= EVENT_ID_GAP_SHARE else rng.randint(2, 20)
        second, fraction = divmod(micros, 1_000_000)
        timestamp = f"{calendar.prefixes[day]}{hms[second]}.{fraction:06d}"
        shuffler.add(f"{event_id},{timestamp},{population.ids[user]},{name}\n")
    shuffler.close()
    return len(rows)


class _RunShuffler:
    """Writes rows in short runs, each in id order, released from a pool in random order.

    That is the shape of the original exports: sorted stretches that jump back and forth, so
    the file is ordered neither by id nor by time. Memory stays at pool x run length rows.
    """

    def __init__(self, out: TextIO, rng: Random, rows: int, pool: int = 16) -> None:
        self._out, self._rng, self._pool_size = out, rng, pool
        # Small files get short runs: a handful of long ones could come out in order.
        self._longest = max(5, min(150, rows // 20))
        self._pool: list[list[str]] = []
        self._run: list[str] = []
        self._length = self._next_length()

    def _next_length(self) -> int:
        return self._rng.randint(self._longest // 5 + 1, self._longest)

    def add(self, line: str) -> None:
        self._run.append(line)
        if len(self._run) >= self._length:
            self._pool.append(self._run)
            self._run, self._length = [], self._next_length()
            if len(self._pool) > self._pool_size:
                self._release()

    def _release(self) -> None:
        pool = self._pool
        i = self._rng.randrange(len(pool))
        pool[i], pool[-1] = pool[-1], pool[i]
        self._out.write("".join(pool.pop()))

    def close(self) -> None:
        if self._run:
            self._pool.append(self._run)
            self._run = []
        while self._pool:
            self._release()


@contextmanager
def _atomic_outputs(directory: Path, names: Sequence[str]) -> Iterator[dict[str, TextIO]]:
    """Open a temporary file per name; move them all into place only if every one completed."""
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[str, TextIO] = {}
    temporary: dict[str, str] = {}
    try:
        for name in names:
            fd, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            temporary[name] = path
            handles[name] = os.fdopen(fd, "w", encoding="ascii", newline="\n", buffering=1 << 20)
        yield handles
        for handle in handles.values():
            handle.close()
        for name, path in temporary.items():
            os.chmod(path, 0o644)
            os.replace(path, directory / name)
    except BaseException:
        for handle in handles.values():
            handle.close()
        for path in temporary.values():
            with suppress(FileNotFoundError):
                os.unlink(path)
        raise
