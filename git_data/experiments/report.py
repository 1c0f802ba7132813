"""What `git data compare` shows: the params that differ, last/min/max of each metric, and
an offline HTML page with one chart of curves per metric (inline SVG, no script, no URL
outside the page). Every name and value in it comes from run outputs and is escaped."""

from __future__ import annotations

import html
from typing import Any

from .runmetrics import RunMetrics
from .series import Series

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
MAX_CHARTS = 60
MAX_TABLE = 12  # metrics in the printed table; the page has them all
WIDTH, HEIGHT, PAD = 640, 260, 48


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def differing_params(results: list[RunMetrics]) -> list[str]:
    """Param names whose value is not the same in every run (missing counts as a value)."""
    names = sorted({name for r in results for name in r.params})
    return [n for n in names if len({r.params.get(n) for r in results}) > 1]


def common_params(results: list[RunMetrics]) -> dict[str, str]:
    if not results:
        return {}
    differ = set(differing_params(results))
    return {k: v for k, v in sorted(results[0].params.items()) if k not in differ}


def metric_names(results: list[RunMetrics], chosen: list[str]) -> list[str]:
    if chosen:
        return list(dict.fromkeys(chosen))
    return sorted({name for r in results for name in r.metrics})


def table(records: list[dict[str, Any]], results: list[RunMetrics], metrics: list[str]
          ) -> list[list[str]]:
    """Rows of the compare table, the header first: run, status, commit, each differing
    param, then last/min/max per metric."""
    params = differing_params(results)
    header = ["RUN", "STATUS", "COMMIT", *params,
              *[f"{m} {what}" for m in metrics for what in ("last", "min", "max")]]
    rows = [header]
    for record, result in zip(records, results):
        row = [str(result.run_id), str(record.get("status", "?")),
               str(record.get("commit") or "")[:10], *[result.params.get(p, "-") for p in params]]
        for name in metrics:
            series = result.metrics.get(name)
            if series is None or series.last is None:
                row += ["-", "-", "-"]
            else:
                row += [fmt(series.last[1]), fmt(series.low), fmt(series.high)]
        rows.append(row)
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def _chart(name: str, runs: list[tuple[int, str, Series]]) -> str:
    curves = [(run_id, colour, series.curve()) for run_id, colour, series in runs]
    points = [p for _, _, curve in curves for p in curve]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    xs, ys = (x1 - x0) or 1, (y1 - y0) or 1

    def at(step: int, value: float) -> str:
        x = PAD + (step - x0) / xs * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - (value - y0) / ys * (HEIGHT - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    body = [f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
            'fill="none" stroke="#ccc"/>',
            f'<text x="{PAD}" y="{HEIGHT - PAD + 16}" font-size="11">{fmt(float(x0))}</text>',
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" font-size="11" '
            f'text-anchor="end">{fmt(float(x1))}</text>',
            f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" font-size="11" text-anchor="end">'
            f'{fmt(y0)}</text>',
            f'<text x="{PAD - 4}" y="{PAD + 8}" font-size="11" text-anchor="end">{fmt(y1)}</text>']
    for run_id, colour, curve in curves:
        if len(curve) == 1:
            x, y = at(curve[0][0], curve[0][1]).split(",")
            body.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}" '
                        f'data-run="{run_id}"/>')
        elif curve:
            body.append(f'<polyline data-run="{run_id}" fill="none" stroke="{colour}" '
                        f'stroke-width="2" points="{" ".join(at(s, v) for s, v, _ in curve)}"/>')
    return (f'<figure><figcaption>{html.escape(name)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(body)}</svg></figure>')


def render_html(records: list[dict[str, Any]], results: list[RunMetrics], metrics: list[str],
                title: str) -> str:
    colours = {r.run_id: COLOURS[i % len(COLOURS)] for i, r in enumerate(results)}
    rows = table(records, results, metrics)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(
            (f'<td><span class="key" style="background:{colours[int(row[0])]}"></span>'
             f"{html.escape(cell)}</td>") if i == 0 else f"<td>{html.escape(cell)}</td>"
            for i, cell in enumerate(row)) + "</tr>" for row in rows[1:])
    same = common_params(results)
    same_text = (", ".join(f"{html.escape(k)}={html.escape(v)}" for k, v in same.items())
                 if same else "none")
    charts = [_chart(name, [(r.run_id, colours[r.run_id], r.metrics[name]) for r in results
                            if name in r.metrics]) for name in metrics[:MAX_CHARTS]]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:24px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:3px 8px;font-size:13px}}
.key{{display:inline-block;width:10px;height:10px;margin-right:6px}}
figure{{display:inline-block;margin:12px}}figcaption{{font-weight:bold}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table><tr>{head}</tr>{body}</table>
<p>Params the same in every run: {same_text}</p>
{"".join(charts)}
</body></html>
"""
