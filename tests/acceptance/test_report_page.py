"""report.html looked at in a real headless browser (Debian's chromium, which CI installs):
every chart is laid out, nothing on the page errors, nothing is requested, and what the user
wrote (keys, instance ids, field names) is shown as text, never run as markup."""

from __future__ import annotations

import html
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from asyncrun.acceptance import judge_sweep, parse_metrics, render_report

from .support import cli, metric, side_by_side, write_metrics, write_sweep

pytestmark = pytest.mark.slow

EVIL_KEY = '<script>alert("key")</script>'
EVIL_FIELD = '<img src=x onerror=alert(1)>"&amp'
EVIL_INSTANCE = "cand<b>idate"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not on PATH: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not on PATH (CI installs it, and fails without it)")
    return found


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after it loaded and its script ran, as chromium --dump-dom prints it."""
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--virtual-time-budget=5000",  # let the load handlers run before the dump
            f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def root_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<html[^>]*>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag.group(0)))


@pytest.fixture
def evil_sweep(tmp_path: Path) -> Path:
    """A finished sweep whose key, instance and field names are HTML, with a metric that has
    values on one side only and a metric that no run has."""
    runs = side_by_side({"stable": [3, 4, 5, 6], EVIL_INSTANCE: [3, 4.5, 4, 7]})
    for key, _, _, output in runs[:2]:  # two control runs have `only.control` too
        output["statistics"]["only"] = {"control": 1.0 + len(key)}
    runs = [(k.replace("in-00", EVIL_KEY), *rest) for k, *rest in runs]
    runs += [("evil/instance_id=stable", "stable", "succeeded", {EVIL_FIELD: 1.5})]
    runs += [(f"evil/instance_id={EVIL_INSTANCE}", EVIL_INSTANCE, "succeeded", {EVIL_FIELD: 2})]
    out = write_sweep(tmp_path / "out", runs)
    metrics = write_metrics(
        tmp_path / "metrics.json",
        [
            metric("result.value", "le", tolerance=("relative", 0.1)),
            metric(EVIL_FIELD, "ge"),
            metric("only.control", "le"),
            metric("nobody.has.this", "eq"),
        ],
    )
    result = cli(
        ["report", str(out), "--metrics", str(metrics), "--instance-id", "stable",
         "--instance-id", EVIL_INSTANCE],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # the last two metrics fail
    return out / "report.html"


def test_every_chart_is_drawn_and_nothing_errors(evil_sweep: Path, tmp_path: Path) -> None:
    dom = dump_dom(evil_sweep, tmp_path / "profile")
    seen = root_attributes(dom)
    assert seen["data-checked"] == "yes", dom[:2000]
    assert seen["data-errors"] == "0", re.findall(r'id="page-errors"[^>]*>([^<]*)', dom)
    assert seen["data-charts"] == "8"  # two per metric
    assert seen["data-charts-drawn"] == "8"
    assert dom.count('data-drawn="yes"') == 8


def test_what_the_user_wrote_is_text_not_markup(evil_sweep: Path, tmp_path: Path) -> None:
    dom = dump_dom(evil_sweep, tmp_path / "profile")
    assert len(re.findall(r"<script\b", dom)) == 1  # the page's own
    assert "<img" not in dom and "<b>" not in dom
    assert '&lt;script&gt;alert("key")&lt;/script&gt;' in dom  # the key, shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "cand&lt;b&gt;idate" in dom


def test_the_page_refers_to_nothing_outside_itself(evil_sweep: Path) -> None:
    page = evil_sweep.read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy and html.unescape(policy.group(1)).startswith("default-src 'none';")
    references = _References()
    references.feed(page)
    assert references.found and all(ref.startswith("#") for ref in references.found)
    assert references.tags <= {"a", "script"}, references.tags
    assert "url(" not in page and "@import" not in page
    assert re.findall(r"https?://[^\"' ]*", page) == ["http://www.w3.org/2000/svg"] * 8


class _References(HTMLParser):
    """The attributes of a page that may load something, and the tags that carry them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                self.found.append(value or "")
                self.tags.add(tag)
        if tag in ("img", "link", "iframe", "object", "embed", "image", "use", "base"):
            self.tags.add(tag)


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, type[_Counting]]]:
    class Handler(_Counting):
        hits = 0

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_page_check_catches_a_request_a_script_and_an_empty_chart(
    evil_sweep: Path, tmp_path: Path, local_server: tuple[str, type[_Counting]]
) -> None:
    """The checks above can fail: a spoiled copy of the page trips every one of them, and its
    request never reaches the server."""
    url, handler = local_server
    spoiled = tmp_path / "spoiled.html"
    spoil = (
        f'<img src="{url}/pixel.png"><script>document.title = "ran";</script>'
        '<svg data-chart="empty" width="0" height="0"></svg></body>'
    )
    spoiled.write_text(evil_sweep.read_text().replace("</body>", spoil))
    dom = dump_dom(spoiled, tmp_path / "profile")
    seen = root_attributes(dom)
    assert int(seen["data-errors"]) >= 2
    assert (seen["data-charts"], seen["data-charts-drawn"]) == ("9", "8")
    errors = re.search(r'id="page-errors"[^>]*>([^<]*)', dom)
    assert errors and "blocked: img-src" in errors.group(1) and "script-src" in errors.group(1)
    assert "<title>ran</title>" not in dom
    assert handler.hits == 0


def test_a_large_sweep_draws_a_bounded_page(tmp_path: Path) -> None:
    """3,000 inputs per side: every value counts in the statistics, the page draws a sample of
    400 dots per side and at most 31 bars, and is the same page every time."""
    n = 3000
    out = write_sweep(
        tmp_path / "out",
        side_by_side({"a": [i % 97 for i in range(n)], "b": [i % 89 for i in range(n)]}),
    )
    (m,) = parse_metrics([metric("result.value", "le")])
    verdict = judge_sweep(out, [m], control="a", candidate="b")
    (result,) = verdict.results.metric_results or []
    assert result.statistics.control.distribution_summary_statistics.count == n
    when = datetime(2026, 1, 2, tzinfo=UTC)
    page = render_report(verdict, generated=when)
    assert page == render_report(verdict, generated=when)
    assert page.count("<circle") == 2 * 400
    assert 5 <= page.count('data-mark="bin"') <= 31
    assert "an even sample of 400 per side" in page
    assert len(page) < 200_000
