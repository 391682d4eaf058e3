"""`report.html`: one self-contained page for a sweep's verdict.

Nothing is loaded: the charts are inline SVG drawn here, the only script is inline and
allowed by its hash in the page's Content-Security-Policy (`default-src 'none'`), so a page
opened from a CI artifact makes no request. Every text that comes from the user (scenario keys,
instance ids, field names) is escaped. The page's script checks itself when it loads: it
counts the charts the browser laid out (`data-charts-drawn` on <html>, against
`data-charts`) and records any script error, console error or blocked request
(`data-errors`, listed in #page-errors), so a headless browser can tell that it reads well.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from asyncrun._metrics import Metric, MetricResult, ResultStatistics
from asyncrun.acceptance.sweep import SweepVerdict
from asyncrun.acceptance.verdict import PERCENTILES, Pair, statistic_value, tolerance_of

__all__ = ["OPERATOR_SIGNS", "condition_text", "render_report"]

OPERATOR_SIGNS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "eq": "=", "ne": "≠"}
_CONTROL_COLOUR = "#4c78a8"
_CANDIDATE_COLOUR = "#f58518"
_WIDTH = 620
_MARGIN_LEFT = 150
_MARGIN_RIGHT = 24
_STRIP_POINTS = 400  # points drawn per side at most: the box shows the whole distribution
_SHOWN_EXTREMES = 5
_HEADINGS = {
    "number_of_runs_total": "runs",
    "count": "values",
    "shifted_geometric_mean": "shifted geo. mean",
}

# The page checks itself once laid out (see the module docstring). Fixed text: its hash is in
# the CSP, so no other script can run.
_SCRIPT = """
(function () {
  var root = document.documentElement, errors = [];
  function note(message) {
    errors.push(String(message));
    root.setAttribute("data-errors", String(errors.length));
    var list = document.getElementById("page-errors");
    if (list) { list.textContent = errors.join("\\n"); list.hidden = false; }
  }
  window.addEventListener("error", function (e) { note("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { note("rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    note("blocked: " + e.violatedDirective + " " + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    note("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  root.setAttribute("data-errors", "0");
  window.addEventListener("load", function () {
    var charts = document.querySelectorAll("svg[data-chart]"), drawn = 0;
    charts.forEach(function (svg) {
      var box = svg.getBoundingClientRect(), marks = svg.querySelectorAll("[data-mark]");
      var ok = box.width > 0 && box.height > 0 && marks.length > 0;
      marks.forEach(function (mark) {
        var b = mark.getBBox();
        if (!(b.width > 0 || b.height > 0)) { ok = false; }
      });
      svg.setAttribute("data-drawn", ok ? "yes" : "no");
      if (ok) { drawn += 1; }
    });
    root.setAttribute("data-charts", String(charts.length));
    root.setAttribute("data-charts-drawn", String(drawn));
    root.setAttribute("data-checked", "yes");
  });
})();
"""

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 24px auto; max-width: 1320px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 6px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
         font-weight: 600; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
code, .key { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figcaption { color: #555; font-size: 13px; max-width: 620px; }
.muted { color: #666; } #page-errors { color: #c62828; white-space: pre-wrap; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
table.statistics th, table.statistics td { padding: 3px 6px; font-size: 13px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def condition_text(metric: Metric) -> str:
    """`candidate ≤ control + 5 % of |control|`."""
    sign = OPERATOR_SIGNS[str(metric.params.operator)]
    tolerance = metric.params.tolerance
    # A negative tolerance is allowed (the candidate must beat the control by that much):
    # shown as its size with the direction flipped, not as "+ -0.5".
    size = abs(tolerance.value)
    amount = f"{size:g}"
    if str(tolerance.type) == "relative":
        amount = f"{size * 100:g} % of |control|"
    if str(metric.params.operator) in ("eq", "ne"):
        if str(tolerance.type) == "" or tolerance.value == 0:
            return f"candidate {sign} control"
        signed = f"-{amount}" if tolerance.value < 0 else amount
        return f"|candidate - control| {'≤' if sign == '=' else '>'} {signed}"
    if str(tolerance.type) == "" or tolerance.value == 0:
        return f"candidate {sign} control"
    direction = "-" if str(metric.params.operator) in ("gt", "ge") else "+"
    if tolerance.value < 0:
        direction = "+" if direction == "-" else "-"
    return f"candidate {sign} control {direction} {amount}"


def render_report(verdict: SweepVerdict, *, generated: datetime | None = None) -> str:
    """The page of a sweep's verdict."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    results = verdict.results.metric_results or []
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp())}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>acceptance: {_e(verdict.candidate)} vs {_e(verdict.control)}</title>",
        f"<script>{_SCRIPT}</script>",
        f"<style>{_STYLE}</style></head><body>",
        _header(verdict, when),
        _verdict_table(results),
        *(_metric_section(verdict, i, r) for i, r in enumerate(results)),
        '<pre id="page-errors" hidden></pre>',
        "</body></html>",
    ]
    return "\n".join(parts)


def _header(verdict: SweepVerdict, when: str) -> str:
    passed = verdict.results.passed
    badge = (
        '<span class="badge pass">PASSED</span>'
        if passed
        else ('<span class="badge fail">FAILED</span>')
    )
    lines = [
        f"<h1>Acceptance verdict {badge}</h1>",
        f"<p>candidate <code>{_e(verdict.candidate)}</code> against control "
        f"<code>{_e(verdict.control)}</code>, {len(verdict.metrics)} metric(s); "
        f'<span class="muted">generated {_e(when)}</span></p>',
        "<p>" + "; ".join(_runs_line(verdict, side) for side in ("control", "candidate")) + "</p>",
    ]
    if verdict.unsuccessful:
        lines.append(
            f'<p class="muted">{verdict.unsuccessful} run(s) did not succeed: they give no '
            "value and count only in the runs total.</p>"
        )
    return "\n".join(lines)


def _runs_line(verdict: SweepVerdict, side: str) -> str:
    instance = verdict.control if side == "control" else verdict.candidate
    counts: Mapping[str, int] = verdict.statuses.get(instance, {})
    shown = ", ".join(f"{n} {_e(status)}" for status, n in sorted(counts.items()))
    return f"{side} runs: {shown or 'none'}"


def _verdict_table(results: Sequence[MetricResult]) -> str:
    head = (
        '<table><thead><tr><th>metric</th><th class="text">statistic</th>'
        '<th class="text">passes when</th>'
        "<th>control</th><th>candidate</th><th>candidate &minus; control</th><th>verdict</th>"
        "</tr></thead><tbody>"
    )
    rows = []
    for index, result in enumerate(results):
        c, d = _compared(result)
        cell = (
            '<span class="badge pass">pass</span>'
            if result.passed
            else ('<span class="badge fail">fail</span>')
        )
        rows.append(
            f'<tr><td class="text"><a href="#metric-{index}"><code>{_e(result.metric.field)}'
            f'</code></a></td><td class="text">{_e(str(result.metric.statistic))}</td>'
            f'<td class="text">{_e(condition_text(result.metric))}</td>'
            f"<td>{_n(c)}</td><td>{_n(d)}</td><td>{_n(d - c)}</td><td>{cell}</td></tr>"
        )
    return head + "".join(rows) + "</tbody></table>"


def _compared(result: MetricResult) -> tuple[float, float]:
    statistic = result.metric.statistic
    return (
        statistic_value(result.statistics.control, statistic),
        statistic_value(result.statistics.candidate, statistic),
    )


def _metric_section(verdict: SweepVerdict, index: int, result: MetricResult) -> str:
    metric = result.metric
    c, d = _compared(result)
    control = verdict.values(index, verdict.control)
    candidate = verdict.values(index, verdict.candidate)
    pairs = verdict.pairs(index)
    verdict_word = "passes" if result.passed else "fails"
    return "\n".join(
        [
            f'<section id="metric-{index}"><h2><code>{_e(metric.field)}</code> '
            f"({_e(str(metric.statistic))}) {verdict_word}</h2>",
            f"<p>{_e(condition_text(metric))}: control {_n(c)}, candidate {_n(d)}, "
            f"tolerance {_n(tolerance_of(metric, c))}.</p>",
            '<div class="charts">',
            _figure(
                _distribution_chart(verdict, result, control, candidate),
                "Distributions: box from p25 to p75 with the median, whiskers from min to "
                "max, ◆ the mean, dots the runs' values"
                + (
                    f" (an even sample of {_STRIP_POINTS} per side)"
                    if len(control) > _STRIP_POINTS or len(candidate) > _STRIP_POINTS
                    else ""
                )
                + ".",
            ),
            _figure(
                _difference_chart(pairs, d - c),
                "Per-input differences, candidate minus control (inputs with a value on both "
                "sides); the dashed line is 0, ▼ the difference of the statistics.",
            ),
            "</div>",
            _pair_summary(pairs),
            _statistics_table(result.statistics.control, result.statistics.candidate),
            "</section>",
        ]
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


# ---------------------------------------------------------------------- scales and axes


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _domain(values: Iterable[float]) -> tuple[float, float]:
    seen = list(values)
    low, high = min(seen), max(seen)
    if high == low:
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.04
    return low - pad, high + pad


class _Scale:
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.width = _WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT

    def __call__(self, value: float) -> float:
        return _MARGIN_LEFT + (value - self.low) / (self.high - self.low) * self.width


def _axis(scale: _Scale, y: float) -> str:
    parts = [
        f'<line x1="{_MARGIN_LEFT}" y1="{y}" x2="{_WIDTH - _MARGIN_RIGHT}" y2="{y}" stroke="#999"/>'
    ]
    for tick in _nice_ticks(scale.low, scale.high):
        x = scale(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#999"/>'
            f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle">{tick:g}</text>'
        )
    return "".join(parts)


def _svg(kind: str, height: int, body: str, label: str) -> str:
    return (
        f'<svg data-chart="{kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{_e(label)}" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}">{body}</svg>'
    )


# ---------------------------------------------------------------------- distributions


def _distribution_chart(
    verdict: SweepVerdict, result: MetricResult, control: list[float], candidate: list[float]
) -> str:
    label = f"distributions of {result.metric.field}"
    if not control and not candidate:
        return _svg("distribution", 60, _no_data("no run has a value of this metric"), label)
    scale = _Scale(*_domain(control + candidate))
    rows = (
        ("control", verdict.control, result.statistics.control, control, _CONTROL_COLOUR),
        ("candidate", verdict.candidate, result.statistics.candidate, candidate, _CANDIDATE_COLOUR),
    )
    body = [_box_row(scale, 20 + 70 * i, *row) for i, row in enumerate(rows)]
    body.append(_axis(scale, 160))
    return _svg("distribution", 185, "".join(body), label)


def _box_row(
    scale: _Scale,
    top: float,
    side: str,
    instance: str,
    stats: ResultStatistics,
    values: list[float],
    colour: str,
) -> str:
    middle = top + 25
    name = instance if len(instance) <= 18 else instance[:17] + "…"
    parts = [
        f'<text x="8" y="{middle - 4}" font-weight="600">{side}</text>',
        f'<text x="8" y="{middle + 10}"><title>{_e(instance)}</title>{_e(name)}</text>',
    ]
    if not values:
        return "".join(parts) + (
            f'<text data-mark="empty" x="{_MARGIN_LEFT}" y="{middle + 4}">no value</text>'
        )
    # The runs' dots first, the box over them: the median and the mean stay readable.
    return "".join(
        [*parts, _strip(scale, values, middle, colour), _box(scale, stats, middle, colour)]
    )


def _strip(scale: _Scale, values: list[float], middle: float, colour: str) -> str:
    dots = []
    for i, value in enumerate(_sample(sorted(values), _STRIP_POINTS)):
        jitter = ((i * 7919) % 23 - 11) * 0.9  # fixed spread: the page is the same every time
        dots.append(
            f'<circle cx="{scale(value):.1f}" cy="{middle + jitter:.1f}" r="2.2" '
            f'fill="{colour}" fill-opacity="0.5"/>'
        )
    return "".join(dots)


def _box(scale: _Scale, stats: ResultStatistics, middle: float, colour: str) -> str:
    summary, percentiles = stats.distribution_summary_statistics, stats.distribution_percentiles
    x0, x1 = scale(summary.min), scale(summary.max)
    q1, q2, q3 = scale(percentiles.p25), scale(percentiles.p50), scale(percentiles.p75)
    mean = scale(summary.mean)
    return "".join(
        [
            # A whisker of one value has no length: a mark only when it can be seen.
            f'<line {"data-mark=whisker " if x1 > x0 else ""}x1="{x0:.1f}" y1="{middle}" '
            f'x2="{x1:.1f}" y2="{middle}" stroke="{colour}"/>',
            *(
                f'<line x1="{x:.1f}" y1="{middle - 8}" x2="{x:.1f}" y2="{middle + 8}" '
                f'stroke="{colour}"/>'
                for x in (x0, x1)
            ),
            f'<rect data-mark="box" x="{q1:.1f}" y="{middle - 14}" '
            f'width="{max(q3 - q1, 1.5):.1f}" height="28" fill="{colour}" fill-opacity="0.15" '
            f'stroke="{colour}" stroke-width="1.5"/>',
            f'<line data-mark="median" x1="{q2:.1f}" y1="{middle - 14}" x2="{q2:.1f}" '
            f'y2="{middle + 14}" stroke="#222" stroke-width="2.5"/>',
            f'<path data-mark="mean" d="M{mean:.1f} {middle - 6}l6 6-6 6-6-6z" fill="#222" '
            f'stroke="#fff"><title>mean {_n(summary.mean)}</title></path>',
        ]
    )


def _sample(ordered: list[float], most: int) -> list[float]:
    if len(ordered) <= most:
        return ordered
    step = (len(ordered) - 1) / (most - 1)
    return [ordered[round(i * step)] for i in range(most)]


def _no_data(text: str) -> str:
    return f'<text data-mark="empty" x="{_MARGIN_LEFT}" y="34">{_e(text)}</text>'


# ---------------------------------------------------------------------- differences


def _difference_chart(pairs: Sequence[Pair], statistic_difference: float) -> str:
    differences = [d for p in pairs if (d := p.difference) is not None]
    label = "per-input differences, candidate minus control"
    if not differences:
        return _svg("difference", 60, _no_data("no input has a value on both sides"), label)
    bins = max(5, min(30, round(math.sqrt(len(differences)))))
    low, high = _domain([*differences, 0.0, statistic_difference])
    # Bins edged at 0: each bar is all "candidate lower" or all "candidate higher".
    width = (high - low) / bins
    start = math.floor(low / width) * width
    bins = math.ceil((high - start) / width)
    scale = _Scale(start, start + bins * width)
    counts = [0] * bins
    for value in differences:
        counts[min(bins - 1, int((value - start) / width))] += 1
    tallest = max(counts)
    base, height = 150, 120
    parts = [f'<text x="8" y="24" font-weight="600">{len(differences)} inputs</text>']
    for i, count in enumerate(counts):
        if not count:
            continue
        left, right = start + i * width, start + (i + 1) * width
        x0, x1 = scale(left), scale(right)
        bar = count / tallest * height
        colour = _CONTROL_COLOUR if right <= 0 else _CANDIDATE_COLOUR if left >= 0 else "#999"
        parts.append(
            f'<rect data-mark="bin" x="{x0 + 0.5:.1f}" y="{base - bar:.1f}" '
            f'width="{max(x1 - x0 - 1, 1):.1f}" height="{bar:.1f}" fill="{colour}">'
            f"<title>{count} input(s) from {left:.4g} to {right:.4g}</title></rect>"
        )
    zero = scale(0.0)
    parts.append(
        f'<line x1="{zero:.1f}" y1="20" x2="{zero:.1f}" y2="{base}" stroke="#222" '
        'stroke-dasharray="4 3"/>'
    )
    marker = scale(statistic_difference)
    parts.append(
        f'<path data-mark="statistic" d="M{marker - 6:.1f} 12h12l-6 9z" fill="#222">'
        f"<title>difference of the statistics {_n(statistic_difference)}</title></path>"
    )
    parts.append(_axis(scale, base))
    parts.append(f'<text x="8" y="{base - 4}">count (max {tallest})</text>')
    return _svg("difference", 175, "".join(parts), label)


def _pair_summary(pairs: Sequence[Pair]) -> str:
    both = [p for p in pairs if p.difference is not None]
    lower = sum(1 for p in both if p.difference is not None and p.difference < 0)
    higher = sum(1 for p in both if p.difference is not None and p.difference > 0)
    unpaired = len(pairs) - len(both)
    text = (
        f"<p>Per input: candidate lower on {lower}, higher on {higher}, equal on "
        f"{len(both) - lower - higher}"
        + (f"; {unpaired} input(s) without a value on one side" if unpaired else "")
        + ".</p>"
    )
    if not both:
        return text
    ranked = sorted(both, key=lambda p: (p.difference or 0.0, p.pair))
    shown = ranked[:_SHOWN_EXTREMES] + [
        p for p in ranked[-_SHOWN_EXTREMES:] if p not in ranked[:_SHOWN_EXTREMES]
    ]
    rows = "".join(
        f'<tr><td class="key">{_e(p.pair)}</td><td>{_n(p.control)}</td>'
        f"<td>{_n(p.candidate)}</td><td>{_n(p.difference)}</td></tr>"
        for p in shown
    )
    return (
        text + "<details><summary>largest differences each way</summary><table><thead><tr>"
        "<th>input</th><th>control</th><th>candidate</th><th>candidate &minus; control</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _statistics_table(control: ResultStatistics, candidate: ResultStatistics) -> str:
    names = [
        "number_of_runs_total",
        "count",
        "min",
        "max",
        "mean",
        "std",
        "shifted_geometric_mean",
        *PERCENTILES,
    ]

    def cell(stats: ResultStatistics, name: str) -> str:
        if name == "number_of_runs_total":
            return str(stats.number_of_runs_total)
        if name in PERCENTILES:
            return _n(getattr(stats.distribution_percentiles, name))
        return _n(getattr(stats.distribution_summary_statistics, name))

    head = "".join(f"<th>{_HEADINGS.get(name, name)}</th>" for name in names)
    rows = "".join(
        f'<tr><td class="text">{side} <code>{_e(stats.instance_id)}</code>{_version(stats)}</td>'
        + "".join(f"<td>{cell(stats, name)}</td>" for name in names)
        + "</tr>"
        for side, stats in (("control", control), ("candidate", candidate))
    )
    return (
        '<details open><summary>statistics</summary><table class="statistics"><thead><tr>'
        f"<th></th>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _version(stats: ResultStatistics) -> str:
    return f' <span class="muted">({_e(stats.version_id)})</span>' if stats.version_id else ""
