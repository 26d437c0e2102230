"""The operations kit in deploy/: Prometheus' configuration and alerting rules pass promtool and
their unit tests, and every query of the rules and of the Grafana dashboard names a series that
a live monitor exports (with either source). A real Prometheus loads the rules and scrapes two
live monitors.

promtool and prometheus come from Debian's `prometheus` package; without them these tests skip
with the reason, except under CI=true, where they fail."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bitso_sandbox.local_bitso.catalog import default_listings
from bitso_sandbox.local_bitso.exchange import SimulatedExchange
from bitso_sandbox.local_bitso.http_api import LocalBitso
from tests.python.conftest import BIN_DIR, REPO_ROOT
from tests.python.prometheus_server import require_prometheus_binary, running_prometheus
from tests.python.receivers import JsonReceiver, free_port

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
CONFIG_FILE = PROMETHEUS_DIR / "prometheus.yml"
RULES_FILE = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS_FILE = PROMETHEUS_DIR / "alerts_test.yml"
DASHBOARD_FILE = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "spread_monitor.json"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SOURCES = ("rest", "ws")
BOOKS = "btc_mxn,usd_mxn"
# Series that Prometheus itself writes: `up` for every scrape target, ALERTS for the rules.
PROMETHEUS_OWN_SERIES = {"up", "ALERTS"}
# Grafana's own variables in the dashboard's queries, and what stands for them here.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$instance": ".*",
    "$book": ".*",
}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
    return value


# --- PromQL: the metric names an expression selects ---------------------------------------

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}  # fmt: skip
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
NAME_MATCHER = re.compile(r"__name__\s*(=~|!=|!~|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expression: str) -> set[str]:
    """Every metric name `expression` selects, as Prometheus stores it (`..._total`,
    `..._bucket`): names before or without `{...}`, and `{__name__="..."}` matchers. An
    identifier followed by `(` is a function or an aggregation; those in `{...}`, in `[...]`
    and in by/without/on/ignoring/group_* lists are labels or durations."""
    names = set()
    for operator, quoted in NAME_MATCHER.findall(expression):
        assert operator == "=", f"a metric name matched with {operator} cannot be checked"
        names.add(quoted[1:-1])
    text = STRING.sub('""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = GROUPING.sub(" ", text)
    for match in IDENTIFIER.finditer(text):
        name = match.group()
        if name in PROMQL_KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('up{job="a"} == 0 or absent(up{job="a"})', {"up"}),
        (
            'sum by (book, reason) (rate(x_total{reason="stale quote", book=~"$book"}[5m])) * 60',
            {"x_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(lat_seconds_bucket[$__rate_interval])))",
            {"lat_seconds_bucket"},
        ),
        ("a / on (job, instance) group_left (book) b offset 5m > 1e3", {"a", "b"}),
        ('{__name__="c_total", kind="by"} unless ignoring (kind) d', {"c_total", "d"}),
        ('count(ALERTS{alertname=~"X.*"}) or vector(0)', {"ALERTS"}),
        (
            'max_over_time(g[10m:1m]) @ start() and label_replace(h, "a", "$1", "b", "(.*)")',
            {"g", "h"},
        ),
    ],
)
def test_metric_names_are_read_from_promql_without_functions_labels_or_durations(expression, names):
    assert metric_names(expression) == names


def rules() -> list[dict]:
    return [
        rule
        for group in yaml.safe_load(RULES_FILE.read_text())["groups"]
        for rule in group["rules"]
    ]


def rule_expressions() -> dict[str, str]:
    return {rule.get("alert") or rule["record"]: rule["expr"] for rule in rules()}


# An annotation's `printf "<expression>" ... | query`, whose %q and %s are label values.
ANNOTATION_QUERY = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"[^|}]*\|\s*query\b')


def annotation_queries() -> dict[str, str]:
    queries = {}
    for rule in rules():
        for name, text in rule.get("annotations", {}).items():
            for number, match in enumerate(ANNOTATION_QUERY.finditer(text)):
                expression = re.sub(r"%[qsdv]", '""', match.group(1).replace('\\"', '"'))
                queries[f"rule {rule['alert']} {name} query {number}"] = expression
    return queries


def dashboard_expressions() -> dict[str, str]:
    """Every query of the dashboard (panels and template variables), keyed by where it is."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    expressions = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expressions[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        # Grafana's label_values(series, label) reads the label's values of that series.
        series = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
        assert series, f"variable {variable['name']}: {query!r} is not label_values(series, label)"
        expressions[f"variable {variable['name']}"] = series.group(1)
    return expressions


def with_grafana_variables(expression: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda item: -len(item[0])):
        expression = expression.replace(variable, value)
    assert "$" not in expression, f"unknown Grafana variable in {expression!r}"
    return expression


# --- promtool -----------------------------------------------------------------------------


def test_prometheus_config_and_rules_pass_promtool_checks():
    promtool = require_prometheus_binary("promtool")
    for command in (["check", "config", str(CONFIG_FILE)], ["check", "rules", str(RULES_FILE)]):
        result = subprocess.run([promtool, *command], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alerting_rules_pass_their_promtool_unit_tests():
    promtool = require_prometheus_binary("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS_FILE.name],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    firing, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS_FILE.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(rule_expressions())

    assert alerts - firing == set(), "alerts without a firing case"
    assert alerts - quiet == set(), "alerts without a case where they stay quiet"


def test_every_alert_waits_has_a_severity_and_says_what_happened():
    for group in yaml.safe_load(RULES_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            assert "for" in rule, rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


# --- live monitors ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def webhook_url() -> Iterator[str]:
    receiver = JsonReceiver("/hook")
    yield receiver.url
    receiver.close()


@pytest.fixture(scope="module")
def monitors(tmp_path_factory, webhook_url) -> Iterator[dict[str, str]]:
    """One `ingest spreads --metrics-port` per source, each against a local Bitso of its own:
    {source: base URL of its /metrics and /healthz}."""
    servers, processes, logs, urls = [], {}, {}, {}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("BITSO_")}
    try:
        for source in SOURCES:
            server = LocalBitso(SimulatedExchange(default_listings(), None, activity=1.0))
            server.start()
            servers.append(server)
            port = free_port()
            folder = tmp_path_factory.mktemp(f"monitor-{source}")
            # --duration: the monitor ends by itself even if this test run is killed.
            command = [
                str(BIN_DIR / "ingest"), "spreads", "--source", source, "--books", BOOKS,
                "--api-url", server.url, "--ws-url", server.ws_url,
                "--lake", str(folder / "lake"), "--webhook", webhook_url,
                "--metrics-port", str(port), "--duration", "600",
            ]  # fmt: skip
            logs[source] = folder / "monitor.log"
            with logs[source].open("w") as log:
                processes[source] = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
                )
            urls[source] = f"http://127.0.0.1:{port}"

        def healthy(source: str) -> bool:
            process = processes[source]
            if process.poll() is not None:
                pytest.fail(
                    f"the {source} monitor exited with {process.returncode}: {logs[source]}"
                )
            try:
                return requests.get(f"{urls[source]}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        for source in SOURCES:
            wait_for(partial(healthy, source), 30, f"the {source} monitor's /healthz")
        yield urls
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers:
            server.stop()


def exported_series(metrics_text: str) -> set[str]:
    """The names Prometheus stores for a /metrics page: each sample's name, and for a family
    declared without samples yet the names its type gives (a counter's `_total`, ...)."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
    }
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


@pytest.fixture(scope="module")
def exported(monitors) -> set[str]:
    names = set()
    for url in monitors.values():
        names |= exported_series(requests.get(f"{url}/metrics", timeout=5).text)
    return names


def test_every_rule_and_dashboard_query_names_a_series_a_live_monitor_exports(exported):
    assert any(name.startswith("bitso_monitor_") for name in exported)
    queries = {
        **{f"rule {name}": expression for name, expression in rule_expressions().items()},
        **annotation_queries(),
        **dashboard_expressions(),
    }
    unknown = {
        where: sorted(names - exported - PROMETHEUS_OWN_SERIES)
        for where, expression in queries.items()
        if (names := metric_names(expression)) - exported - PROMETHEUS_OWN_SERIES
    }
    assert unknown == {}
    assert all(metric_names(expression) for expression in queries.values())


def test_the_dashboard_covers_spreads_quote_age_gaps_alerts_sources_and_the_budget():
    used = set().union(*map(metric_names, dashboard_expressions().values()))
    for name in (
        "bitso_monitor_spread_percent",
        "bitso_monitor_quote_age_seconds",
        "bitso_monitor_gap_seconds_total",
        "bitso_monitor_alerts_total",
        "ALERTS",
        "up",
        "bitso_monitor_source_errors_total",
        "bitso_monitor_rest_requests_last_minute",
        "bitso_monitor_rest_request_budget",
    ):
        assert name in used, name


def test_the_dashboard_panels_have_unique_ids_and_tile_the_grid_without_overlapping():
    panels = json.loads(DASHBOARD_FILE.read_text())["panels"]
    taken: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[x, y]!r}"
                taken[x, y] = panel["title"]
    assert len({panel["id"] for panel in panels}) == len(panels)


def test_the_compose_healthcheck_passes_on_a_live_monitor(monitors):
    test = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["monitor"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    for url in monitors.values():
        port = url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-c", test[3]],
            env={"BITSO_METRICS_PORT": port},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr


# --- a real Prometheus --------------------------------------------------------------------


# A scrape target where nothing listens: a monitor that is down.
DEAD_MONITOR = f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def prometheus(monitors, tmp_path_factory) -> Iterator[str]:
    """A real Prometheus with deploy/'s configuration and rules, scraping both monitors (and
    DEAD_MONITOR) every second instead of the compose service."""
    config = yaml.safe_load(CONFIG_FILE.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["scrape_interval"] = "1s"
    live = [url.removeprefix("http://") for url in monitors.values()]
    job["static_configs"] = [{"targets": [*live, DEAD_MONITOR]}]
    with running_prometheus(config, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def api(prometheus: str, path: str, **params: str) -> object:
    reply = requests.get(f"{prometheus}/api/v1/{path}", params=params, timeout=10)
    body = reply.json()
    assert reply.status_code == 200 and body["status"] == "success", (path, params, body)
    return body["data"]


def test_a_real_prometheus_scrapes_the_monitors_evaluates_every_rule_and_sees_one_down(
    prometheus,
):
    def both_up():
        result = api(prometheus, "query", query='up{job="bitso-spread-monitor"} == 1')
        return len(result["result"]) == len(SOURCES)

    wait_for(both_up, 30, "both monitors scraped")

    def evaluated_rules():
        rules = [rule for group in api(prometheus, "rules")["groups"] for rule in group["rules"]]
        return all(rule["health"] != "unknown" for rule in rules) and rules

    rules = wait_for(evaluated_rules, 30, "every rule evaluated")
    assert {rule["name"]: rule["health"] for rule in rules} == dict.fromkeys(
        rule_expressions(), "ok"
    )
    # Scraped and recording: the rules for a monitor that is down or silent stay inactive.
    wait_for(
        lambda: api(prometheus, "query", query="rate(bitso_monitor_records_total[1m]) > 0")[
            "result"
        ],
        30,
        "records counted by Prometheus",
    )

    def active(alertname: str) -> list[dict]:
        alerts = api(prometheus, "alerts")["alerts"]
        return [alert for alert in alerts if alert["labels"]["alertname"] == alertname]

    # The target where nothing listens is down (pending: `for` is a minute); the live ones not.
    (down,) = wait_for(lambda: active("SpreadMonitorDown"), 30, "SpreadMonitorDown")
    assert down["labels"]["instance"] == DEAD_MONITOR and down["state"] == "pending"
    # Two equal first samples can make a recording monitor pending for one evaluation; it must
    # not stay so.
    wait_for(lambda: not active("SpreadMonitorNotRecording"), 30, "no SpreadMonitorNotRecording")


def test_every_dashboard_query_runs_on_a_real_prometheus_that_scrapes_the_monitors(prometheus):
    wait_for(
        lambda: api(prometheus, "query", query="bitso_monitor_spread_percent")["result"],
        30,
        "a scraped spread",
    )
    answered = {}
    for where, expression in dashboard_expressions().items():
        answered[where] = api(prometheus, "query", query=with_grafana_variables(expression))
    # The spreads, per book and monitor, reach the dashboard as they are.
    spreads = answered["panel 'Spread per book' A"]["result"]
    assert {series["metric"]["book"] for series in spreads} == set(BOOKS.split(","))
