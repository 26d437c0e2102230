"""Options of `ingest spreads` are checked before anything starts; `--help` names the variables."""

import socket

import pytest
from click.testing import CliRunner

from ingest.cli import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={"BITSO_WEBHOOKS": "", **(env or {})})


@pytest.fixture
def api(local_bitso, tmp_path):
    server = local_bitso()
    return {
        "BITSO_API_URL": server.url,
        "BITSO_WS_URL": server.ws_url,
        "BITSO_LAKE": str(tmp_path / "lake"),
    }


def test_help_shows_the_variable_behind_each_option():
    result = run("spreads", "--help")
    for variable in (
        "BITSO_API_URL",
        "BITSO_WS_URL",
        "BITSO_LAKE",
        "BITSO_WEBHOOKS",
        "BITSO_ALERT_RULES",
        "BITSO_ALERTMANAGERS",
    ):
        assert variable in result.output


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--threshold", "0"], "'0' is not a percentage greater than 0"),
        (["--threshold", "-0.5"], "'-0.5' is not a percentage greater than 0"),
        (["--threshold", "abc"], "'abc' is not a percentage greater than 0"),
        (["--window", "1.5"], "'1.5' is not a whole, positive number of seconds"),
        (["--window", "0"], "'0' is not a whole, positive number of seconds"),
        (["--window", "7"], "7 s does not divide a day into whole windows"),
        (["--books", "BTC_MXN"], "'BTC_MXN' is not a book name like btc_mxn"),
        (["--books", "nope_mxn"], "nope_mxn not in http://127.0.0.1:"),
        (["--request-budget", "61"], "61 is not in the range 1<=x<=60"),
        (["--format", "json"], "'json' is not one of 'csv', 'parquet'"),
        (["--ws-url", "https://ws.bitso.com"], "is not a ws:// or wss:// URL"),
        (["--ws-timeout", "0"], "0.0 is not in the range x>0"),
        (["--source", "rest", "--depth", "book"], "--depth needs --source ws"),
        (["--source", "rest", "--rest-fallback"], "--rest-fallback needs --source ws"),
        (["--alert-timing", "tick"], "'tick' is not one of 'second', 'message'"),
    ],
)
def test_bad_options_exit_2_with_a_reason_before_anything_starts(api, tmp_path, args, reason):
    result = run("spreads", *args, env=api)
    assert result.exit_code == 2 and reason in result.output, result.output
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        ("rules:\n  - threshold: 0.1\n    for: soon\n", "rules[0] (threshold 0.1): for (seconds)"),
        ("rules:\n  - threshold: 0.1\n    fore: 3\n", "rules[0]: fore: unknown key"),
        (
            "rules:\n  - threshold: 0.5\n    receivers: [pager]\n",
            "rules[0] (threshold 0.5): receivers: 'pager' is not a defined receiver",
        ),
        (
            "receivers:\n  - name: slack\n    webhook_url_env: UNSET_SLACK_URL\n"
            "rules:\n  - threshold: 0.5\n    receivers: [slack]\n",
            "receiver 'slack': webhook_url_env: the variable UNSET_SLACK_URL is not set",
        ),
        (
            "rules:\n  - threshold: 0.5\n  - threshold: 0.5\n    books: [btc_*]\n",
            "book btc_mxn matches several rules of threshold 0.5",
        ),
    ],
)
def test_a_bad_rules_file_exits_2_naming_the_rule_and_field(api, tmp_path, rules, reason):
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    for args, env in (
        (["--alert-rules", str(path)], api),
        ([], {**api, "BITSO_ALERT_RULES": str(path)}),
    ):
        result = run("spreads", "--books", "btc_mxn", *args, env=env)
        assert result.exit_code == 2 and reason in result.output, result.output
        assert "--alert-rules" in result.output
    assert not (tmp_path / "lake").exists()


def test_a_rules_file_and_the_shorthands_together_exit_2(api, tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - threshold: 0.5\n")
    result = run("spreads", "--alert-rules", str(path), "--threshold", "0.1", env=api)
    assert result.exit_code == 2 and "not both" in result.output, result.output


def test_a_bad_alertmanager_url_exits_2(api, tmp_path):
    for args, env in (
        (["--alertmanager", "localhost:9093"], api),
        ([], {**api, "BITSO_ALERTMANAGERS": "http://127.0.0.1:9093 ftp://am"}),
    ):
        result = run("spreads", *args, env=env)
        assert result.exit_code == 2 and "is not an http(s) URL" in result.output, result.output
        assert "--alertmanager" in result.output
    assert not (tmp_path / "lake").exists()


def test_a_bad_webhook_is_refused_without_printing_its_secret(api):
    result = run("spreads", "--webhook", "hooks.slack.com/services/T0SECRET/B0SECRET", env=api)
    assert result.exit_code == 2 and "is not an http(s) URL" in result.output
    assert "SECRET" not in result.output


def test_an_unreachable_api_at_start_exits_1_with_what_failed(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = run("spreads", "--duration", "1", env={"BITSO_API_URL": url})
    assert result.exit_code == 1
    assert f"cannot check the books at GET {url}/v3/available_books/" in result.output


def test_a_short_run_prints_its_result_on_stdout(api, tmp_path):
    result = run(
        "spreads",
        "--duration",
        "2",
        "--window",
        "60",
        "--api-url",
        api["BITSO_API_URL"],
        "--ws-url",
        api["BITSO_WS_URL"],
        "--lake",
        str(tmp_path / "flag-lake"),
        env={"BITSO_LAKE": str(tmp_path / "env")},
    )
    assert result.exit_code == 0, result.output
    assert "4 records (0 gaps) over 2 seconds" in result.output
    assert "1 WebSocket connections (0.0 s disconnected" in result.output
    assert list((tmp_path / "flag-lake").glob("spreads/book=*/date=*/*.csv"))
    assert not (tmp_path / "env").exists()


def test_the_rest_source_is_still_there_when_asked_for(api, tmp_path):
    result = run("spreads", "--source", "rest", "--duration", "2", env=api)
    assert result.exit_code == 0, result.output
    assert "4 records (0 gaps) over 2 seconds" in result.output
    assert "WebSocket" not in result.output
