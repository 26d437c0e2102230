"""The report page in a real browser: headless Chromium (Debian's `chromium` package, driven by
playwright without a browser download) opens it offline and draws every book's chart.

Without Chromium or playwright the test is skipped with the reason; under CI=true (where
`.ci/run` installs Chromium) it fails instead.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ingest.spreads import report_data, report_page
from tests.python.spreads.report_fixtures import book_data

CHROMIUM = Path("/usr/bin/chromium")
BOOKS = ("btc_mxn", "eth_mxn", "usd_mxn")


def require_browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None and not (CHROMIUM.exists() or shutil.which("chromium")):
        reason = f"no Chromium at {CHROMIUM} (Debian package `chromium`)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (the browser test must run under CI=true)")
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> Path:
    # Three hours: each chart has both levels, the minute band and the last hour by second.
    datas = [book_data(book, 3 * 3600) for book in BOOKS]
    charts = [report_page.chart(data, index) for index, data in enumerate(datas)]
    summaries = [report_data.summarize(data) for data in datas]
    path = tmp_path_factory.mktemp("report") / "index.html"
    path.write_text(report_page.page(datas[0].period, summaries, charts))
    return path


def test_the_page_draws_every_book_in_chromium_offline(page_file):
    sync_playwright = require_browser()
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 1600})
            # Offline: any request leaving the file would fail and be reported.

            def refuse(route):
                problems.append(f"request to {route.request.url}")
                route.abort()

            def console(message):
                if message.type == "error":
                    problems.append(message.text)

            context.route("http*://**", refuse)
            page = context.new_page()
            page.on("console", console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(page_file.as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length === {len(BOOKS)}"
            )
            charts = page.evaluate(
                """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
                    traces: div.data.length,
                    drawn: div.querySelectorAll('.scatterlayer .trace').length,
                    paths: Array.from(div.querySelectorAll('.scatterlayer .js-line'))
                        .filter(path => (path.getAttribute('d') || '').length > 100).length,
                    names: div.data.map(trace => trace.name),
                }))"""
            )
            # Hover over the last second of the first chart: time, bid, ask and spread.
            page.evaluate(
                """() => {
                    const div = document.querySelector('.js-plotly-plot');
                    const spread = div.data.findIndex(t => t.name === 'spread, every second');
                    const last = div.data[spread].y.length - 2;
                    Plotly.Fx.hover(div, [{curveNumber: spread, pointNumber: last}]);
                }"""
            )
            hover = page.evaluate("() => document.querySelector('.hoverlayer').textContent")
            screenshot = page.screenshot()
        finally:
            browser.close()
    assert problems == []
    assert len(charts) == len(BOOKS)
    for chart in charts:
        assert chart["traces"] == chart["drawn"] >= 10, chart
        # The band's edges and the spread line are drawn with real paths.
        assert chart["paths"] >= 3, chart
        assert {"spread, every second", "threshold 1 %", "above 0.5 %", "no usable quote"} <= set(
            chart["names"]
        )
    # The fixture's spread at that second is 0.055 % of an ask of 1,548,000.
    assert hover == "2026-03-01 23:59:59 UTCbid 1547148.6ask 1548000spread 0.05500 %"
    image = Image.open(io.BytesIO(screenshot)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the screenshot is nearly blank"
