"""The original challenge's real files load and build on both engines.

The users and withdrawals files are real (read from ../shared, never copied); deposits and
events are generated for those same users, since the real ones are not available.
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.contracts import USERS_SNAPSHOT, WITHDRAWALS_SNAPSHOT
from ingest.io.warehouse import connect
from tests.python.conftest import SHARED_CHALLENGE_DIR

pytestmark = pytest.mark.dbt


@pytest.fixture
def real_snapshot_dir(tmp_path):
    if not SHARED_CHALLENGE_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED_CHALLENGE_DIR} is missing under CI=true")
        pytest.skip(f"the real challenge files are not at {SHARED_CHALLENGE_DIR}")
    directory = tmp_path / "snapshot"
    sample.generate_sample(
        directory,
        deposits=20_000,
        user_ids=sample.read_user_ids(SHARED_CHALLENGE_DIR / USERS_SNAPSHOT.default_file),
    )
    # The two original files that exist.
    for name in (USERS_SNAPSHOT.default_file, WITHDRAWALS_SNAPSHOT.default_file):
        (directory / name).unlink()
        (directory / name).symlink_to(SHARED_CHALLENGE_DIR / name)
    return directory


def test_real_files_load_completely_and_build_green(settings, run_dbt, real_snapshot_dir):
    loads = snapshots.load_snapshots(settings, snapshots.resolve_files(real_snapshot_dir))
    accounted = {item.table: (item.rows_read, item.rows_loaded) for item in loads}
    assert accounted["users"] == (25_699, 25_699)
    assert accounted["withdrawals"] == (5_098, 5_098)

    output = run_dbt("build").stdout
    assert "ERROR=0" in output

    with connect(settings) as warehouse:
        (day,) = warehouse.execute(
            "select currencies_withdrawn, currencies_withdrawn_any_status"
            " from reports.rpt_daily_currency_activity where activity_date = ?",
            (date(2020, 8, 20),),
        )
        withdrawing_users = warehouse.execute(
            "select count(distinct user_id) from core.fct_withdrawals where event_date = ?",
            (date(2020, 8, 20),),
        )
        largest = warehouse.execute("select max(amount), min(amount) from core.fct_withdrawals")
        inferred = warehouse.execute("select count(*) from core.dim_users where is_inferred")
    # Figures published for the original data set.
    assert day == (4, 5)
    assert withdrawing_users == [(15,)]
    # Exact to the last digit: floats would round the largest amount.
    assert [tuple(str(value) for value in row) for row in largest] == [
        ("6827677768780.000000000000000000", "-10.000000000000000000")
    ]
    assert inferred == [(0,)]
