"""The insight questions answered in plain Python from the snapshot CSV files.

An independent oracle for the dbt models: it shares no code with them, reads the files with
the csv module and does exact arithmetic with Decimal.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ingest.contracts import (
    DEPOSITS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
)

LOGIN_EVENTS = {"login", "2falogin", "login_api"}
DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,18})?")


@dataclasses.dataclass(frozen=True)
class Transaction:
    id: int
    user_id: str
    at: datetime | None
    amount: Decimal | None
    currency: str
    complete: bool

    @property
    def day(self) -> date | None:
        return self.at.astimezone(UTC).date() if self.at else None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if any(row.values())]


def _timestamp(text: str, zone_less_utc: bool = False) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if zone_less_utc else parsed


def _transactions(path: Path) -> list[Transaction]:
    return [
        Transaction(
            id=int(row["id"]),
            user_id=row["user_id"],
            at=_timestamp(row["event_timestamp"]),
            amount=Decimal(row["amount"]) if DECIMAL.fullmatch(row["amount"]) else None,
            currency=row["currency"],
            complete=row["tx_status"] == "complete",
        )
        for row in _rows(path)
    ]


def expected_reports(directory: Path) -> dict[str, set[tuple]]:
    deposits = _transactions(directory / DEPOSITS_SNAPSHOT.default_file)
    withdrawals = _transactions(directory / WITHDRAWALS_SNAPSHOT.default_file)
    events = _rows(directory / EVENTS_SNAPSHOT.default_file)
    listed_users = {row["user_id"] for row in _rows(directory / USERS_SNAPSHOT.default_file)}
    all_users = (
        listed_users | {t.user_id for t in deposits + withdrawals} | {e["user_id"] for e in events}
    )
    logins = [
        (e["user_id"], _timestamp(e["event_timestamp"], zone_less_utc=True))
        for e in events
        if e["event_name"] in LOGIN_EVENTS
    ]

    transactions = [t for t in deposits + withdrawals if t.day]
    days = [t.day for t in transactions]
    calendar = [min(days) + timedelta(n) for n in range((max(days) - min(days)).days + 1)]

    def distinct(items, key, day, complete_only):
        return len({key(t) for t in items if t.day == day and (t.complete or not complete_only)})

    by_day = defaultdict(list)
    for t in transactions:
        by_day[t.day].append(t)
    dated_deposits = defaultdict(list)
    for t in deposits:
        if t.day:
            dated_deposits[t.day].append(t)
    dated_withdrawals = defaultdict(list)
    for t in withdrawals:
        if t.day:
            dated_withdrawals[t.day].append(t)

    daily_active_users = {
        (
            day,
            distinct(by_day[day], lambda t: t.user_id, day, False),
            distinct(by_day[day], lambda t: t.user_id, day, True),
        )
        for day in calendar
    }

    attempts = Counter(t.user_id for t in deposits)
    completed = Counter(t.user_id for t in deposits if t.complete)
    users_without_deposits = {(u, attempts[u]) for u in all_users if completed[u] == 0}

    def sixth_day(items: list[Transaction]) -> date | None:
        ordered = sorted(items, key=lambda t: (t.at is None, t.at or datetime.min, t.id))
        return ordered[5].day if len(ordered) > 5 else None

    per_user = defaultdict(list)
    for t in deposits:
        per_user[t.user_id].append(t)
    high_volume_depositors = {
        (user, sixth_day(items), sixth_day([t for t in items if t.complete]))
        for user, items in per_user.items()
        if len(items) > 5
    }

    login_times = defaultdict(list)
    for user, at in logins:
        login_times[user].append(at)
    user_last_login = {
        (user, max((at for at in times if at), default=None), len(times))
        for user, times in login_times.items()
    }
    user_daily_logins = set(
        (user, day, count)
        for (user, day), count in Counter((user, at.date()) for user, at in logins if at).items()
    )

    daily_currency_activity = {
        (
            day,
            distinct(dated_deposits[day], lambda t: t.currency, day, True),
            distinct(dated_withdrawals[day], lambda t: t.currency, day, True),
            distinct(dated_deposits[day], lambda t: t.currency, day, False),
            distinct(dated_withdrawals[day], lambda t: t.currency, day, False),
        )
        for day in calendar
    }

    deposit_groups = defaultdict(list)
    for t in deposits:
        if t.day:
            deposit_groups[(t.day, t.currency)].append(t)
    daily_deposits_by_currency = {
        (
            day,
            currency,
            sum((t.amount for t in items if t.complete and t.amount is not None), Decimal(0)),
            sum(1 for t in items if t.complete),
            sum((t.amount for t in items if t.amount is not None), Decimal(0)),
        )
        for (day, currency), items in deposit_groups.items()
    }

    return {
        "rpt_daily_active_users": daily_active_users,
        "rpt_users_without_deposits": users_without_deposits,
        "rpt_high_volume_depositors": high_volume_depositors,
        "rpt_user_last_login": user_last_login,
        "rpt_user_daily_logins": user_daily_logins,
        "rpt_daily_currency_activity": daily_currency_activity,
        "rpt_daily_deposits_by_currency": daily_deposits_by_currency,
    }
