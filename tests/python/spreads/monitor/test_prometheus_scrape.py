"""A real Prometheus server scrapes a running `ingest spreads --metrics-port` against `ingest
serve-bitso`, and its HTTP API then answers for the monitor's series. Without the `prometheus`
binary the test is skipped with the reason, except under CI=true, where that is a failure."""

from __future__ import annotations

import signal
import time

import pytest
import requests

from tests.python.prometheus_server import running_prometheus
from tests.python.receivers import free_port

from . import test_end_to_end
from .test_end_to_end import finish, start_monitor

server_factory = test_end_to_end.server_factory

BOOKS = ("btc_mxn", "usd_mxn")


def query(base: str, promql: str) -> list[dict]:
    """The instant vector `promql` evaluates to now; [] while Prometheus is not ready."""
    try:
        reply = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    except requests.ConnectionError:
        return []
    if reply.status_code != 200:
        return []
    answer = reply.json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(condition, timeout: float, what: str, log_path=None):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            tail = log_path.read_text()[-2000:] if log_path is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.5)
    return result


def test_a_real_prometheus_scrapes_the_monitor_and_answers_for_its_series(tmp_path, server_factory):
    server = server_factory({"books": {"btc_mxn": [{"at": 0, "spread": "0.3"}]}})
    metrics_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "spread_monitor",
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
            }
        ],
    }
    monitor = start_monitor(
        tmp_path / "lake",
        server,
        *("--source", "rest", "--duration", "120", "--metrics-port", str(metrics_port)),
    )
    log_path = tmp_path / "prometheus" / "prometheus.log"
    try:
        with running_prometheus(config, tmp_path / "prometheus") as base:
            up = wait_for(
                lambda: [
                    s for s in query(base, 'up{job="spread_monitor"}') if s["value"][1] == "1"
                ],
                60,
                "the monitor's target to be up",
                log_path,
            )
            assert up[0]["metric"]["instance"] == f"127.0.0.1:{metrics_port}"
            spreads = wait_for(
                lambda: len(found := query(base, "bitso_monitor_spread_percent")) == 2 and found,
                30,
                "a spread series per book",
                log_path,
            )
            by_book = {series["metric"]["book"]: float(series["value"][1]) for series in spreads}
            assert set(by_book) == set(BOOKS)
            assert by_book["btc_mxn"] == pytest.approx(0.3, abs=0.01)
            # Counters grow between scrapes: Prometheus sees records being written.
            rates = wait_for(
                lambda: [
                    s
                    for s in query(base, "rate(bitso_monitor_records_total[5s])")
                    if float(s["value"][1]) > 0
                ],
                30,
                "records_total to grow",
                log_path,
            )
            assert {series["metric"]["book"] for series in rates} == set(BOOKS)
            budget = query(base, "bitso_monitor_rest_request_budget")
            assert [float(series["value"][1]) for series in budget] == [50.0]
            assert monitor.poll() is None
            monitor.send_signal(signal.SIGTERM)
            _out, err = finish(monitor, timeout=30)
            assert "Traceback" not in err
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait(5)
