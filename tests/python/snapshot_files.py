"""Small hand-written snapshot files with every quirk of the real ones."""

from __future__ import annotations

from pathlib import Path

from ingest.contracts import (
    DEPOSITS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
)
from tests.python.conftest import write_file

# Each file's header is the snapshot contract's; the rows below are in its column order.
DEPOSITS = f"""\
{DEPOSITS_SNAPSHOT.header}
1001,2020-01-10 14:11:05.63+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,10.000000000000000000,mxn,complete
1000,2020-01-10 18:26:02.853+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,,mxn,complete
1004,2021-11-11 15:30:57.753682+00,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,0.000000000000000001,btc,failed
1003,2020-08-05 00:00:00+00,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,6827677768780.000000000000000000,usd,complete
"""
WITHDRAWALS = f"""\
{WITHDRAWALS_SNAPSHOT.header}
1002,2020-06-16 13:38:48.6+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,-10.000000000000000000,web,mxn,failed
1006,2020-06-16 13:38:48.6+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,5.000000000000000000,app,mxn,complete
"""
EVENTS = f"""\
{EVENTS_SNAPSHOT.header}
2,2020-01-02 18:40:33.568000,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,2falogin
1,2020-01-02 00:00:00.000000,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,login
"""
USERS = f"""\
{USERS_SNAPSHOT.header}

aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
"""

DEFAULT_FILES = {
    DEPOSITS_SNAPSHOT.default_file: DEPOSITS,
    WITHDRAWALS_SNAPSHOT.default_file: WITHDRAWALS,
    EVENTS_SNAPSHOT.default_file: EVENTS,
    USERS_SNAPSHOT.default_file: USERS,
}


def write_snapshot_dir(directory: Path, **replacements: str | None) -> Path:
    """The four files in `directory`; keyword `deposit_sample_data=...` replaces one file's text,
    and None leaves it out."""
    for name, text in DEFAULT_FILES.items():
        text = replacements.get(name.removesuffix(".csv"), text)
        if text is not None:
            write_file(directory / name, text)
    return directory
