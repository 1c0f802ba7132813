"""A profile as one self-contained HTML page (inline CSS and SVG, no script, nothing
fetched), in the spirit of Facets Overview: a table of numeric columns and one of
categorical columns, a chart per column, a sample of rows. With ``compare`` (the baseline,
usually the older version) both versions are drawn side by side, and added, removed and
retyped columns and shifted statistics are marked."""

from __future__ import annotations

import html
from typing import Any, Optional, Union

from git_data.stats import fmt
from git_data.stats.diff import TableDiff, diff_profiles
from git_data.stats.model import ColumnProfile, Histogram, Profile

OLD, NEW = "#4c78a8", "#f58518"
CHART_W, CHART_H, BINS = 220, 54, 30
SampleArg = Union[int, tuple[list[str], list[list[Any]]], None]

CSS = """
.gd-stats{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
  max-width:1160px;margin:0 auto;padding:16px}
.gd-stats h1{font-size:20px;margin:0 0 4px}.gd-stats h2{font-size:15px;margin:22px 0 8px}
.gd-stats .sub{color:#57606a;margin-bottom:10px}
.gd-stats table{border-collapse:collapse;width:100%}
.gd-stats th{text-align:left;font-weight:600;color:#57606a;font-size:11px;text-transform:uppercase;
  letter-spacing:.04em;border-bottom:2px solid #d0d7de;padding:6px 8px}
.gd-stats td{padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:middle}
.gd-stats th.num{text-align:right}
.gd-stats td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.gd-stats tr.first td{border-top:1px solid #d0d7de}
.gd-stats .name{font-weight:600;word-break:break-all}
.gd-stats .type{color:#57606a;font-size:11px}
.gd-stats .badge{display:inline-block;border-radius:8px;padding:0 6px;font-size:11px;
  margin-left:4px}
.gd-stats .added{background:#dafbe1;color:#116329}
.gd-stats .removed{background:#ffebe9;color:#a40e26}
.gd-stats .retyped{background:#fff8c5;color:#7d4e00}
.gd-stats td.shift{background:#fff8c5;font-weight:600}
.gd-stats td.bad{color:#cf222e}
.gd-stats .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.gd-stats .box{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0;
  background:#f6f8fa}
.gd-stats .warn{border-color:#d4a72c;background:#fff8c5}
.gd-stats .sample{overflow-x:auto;max-height:420px;overflow-y:auto;border:1px solid #d0d7de}
.gd-stats .sample td,.gd-stats .sample th{white-space:nowrap;font-size:12px}
.gd-stats svg text{font-size:10px;fill:#57606a}
"""


def render_html(profile: Profile, compare: Profile | None = None,
                sample_rows: SampleArg = 20) -> str:
    """A whole HTML page. ``compare`` is the baseline shown beside ``profile``;
    ``sample_rows`` is how many rows of the profile's sample to show, or a
    ``(header, rows)`` sample from :func:`git_data.stats.sample_rows`."""
    title = html.escape(profile.name if compare is None
                        else f"{compare.name} vs {profile.name}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>"
            f"</head><body style=\"margin:0\">{render_fragment(profile, compare, sample_rows)}"
            "</body></html>\n")


def render_fragment(profile: Profile, compare: Profile | None = None,
                    sample_rows: SampleArg = 20) -> str:
    """The page body alone, styles scoped to it (what notebooks display)."""
    diff = diff_profiles(compare, profile) if compare is not None else None
    parts = [f"<div class=\"gd-stats\"><style>{CSS}</style>", _header(profile, compare, diff)]
    if profile.kind in ("image", "file"):
        parts.append(_file_box(profile))
    numeric, categorical = _split_columns(profile, compare)
    if numeric:
        parts.append(_table("Numeric columns", NUMERIC_HEADERS, numeric, compare, diff))
    if categorical:
        parts.append(_table("Categorical columns", CATEGORY_HEADERS, categorical, compare, diff))
    parts.append(_sample(profile, sample_rows))
    parts.append(_warnings(profile, compare))
    parts.append("<p class=\"sub\">git-data stats · profile format "
                 f"v{profile.version}</p></div>")
    return "".join(parts)


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _header(profile: Profile, compare: Profile | None, diff: TableDiff | None) -> str:
    if compare is None or diff is None:
        return f"<h1>{esc(profile.name)}</h1><div class=\"sub\">{esc(_facts(profile))}</div>"
    legend = "".join(f"<div><span class=\"swatch\" style=\"background:{color}\"></span>"
                     f"<b>{label}</b> {esc(p.name)} — {esc(_facts(p))}</div>"
                     for label, color, p in (("old", OLD, compare), ("new", NEW, profile)))
    return (f"<h1>{esc(compare.name)} → {esc(profile.name)}</h1><div class=\"sub\">{legend}</div>"
            f"<div class=\"box\">{_diff_summary(diff)}</div>")


def _facts(profile: Profile) -> str:
    if profile.kind == "images":
        return f"folder of {fmt.count(profile.rows)} images"
    parts = [profile.format]
    if profile.size is not None:
        parts.append(fmt.size(profile.size))
    if profile.rows is not None:
        parts.append(f"{fmt.count(profile.rows)} rows × {len(profile.columns)} columns")
    return " · ".join(parts)


def _diff_summary(diff: TableDiff) -> str:
    items = []
    if diff.row_delta:
        items.append(f"rows {fmt.count(diff.old_rows)} → {fmt.count(diff.new_rows)} "
                     f"({diff.row_delta:+,})")
    for label, names in (("added", diff.added), ("removed", diff.removed)):
        if names:
            items.append(f"<span class=\"badge {label}\">{label}</span> "
                         + ", ".join(esc(n) for n, _ in names))
    if diff.retyped:
        items.append("<span class=\"badge retyped\">retyped</span> " + ", ".join(
            f"{esc(n)} ({esc(a)} → {esc(b)})" for n, a, b in diff.retyped))
    if diff.shifts:
        items.append(f"{len(diff.shifts)} shifted statistics (highlighted)")
    return "<br>".join(items) or "no differences in rows, columns or statistics"


def _file_box(profile: Profile) -> str:
    info = profile.image or {}
    rows = [("format", profile.format), ("size", fmt.size(profile.size))]
    if info:
        rows.append(("dimensions", f"{info.get('width', '?')} × {info.get('height', '?')}"))
        rows += [(k.replace("_", " "), info[k]) for k in ("mode", "bit_depth") if k in info]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table style=\"width:auto\">{cells}</table>"


Pair = tuple[Optional[ColumnProfile], Optional[ColumnProfile]]  # (old, new)


def _split_columns(profile: Profile, compare: Profile | None) -> tuple[list[Pair], list[Pair]]:
    old = {c.name: c for c in compare.columns} if compare is not None else {}
    pairs: list[Pair] = [(old.pop(c.name, None), c) for c in profile.columns]
    pairs += [(c, None) for c in old.values()]
    numeric = [p for p in pairs if _shown(p).is_numeric]
    return numeric, [p for p in pairs if not _shown(p).is_numeric]


def _shown(pair: Pair) -> ColumnProfile:
    col = pair[1] if pair[1] is not None else pair[0]
    assert col is not None
    return col


NUMERIC_HEADERS = ("column", "count", "missing", "mean", "std", "min", "median", "max",
                   "distribution")
CATEGORY_HEADERS = ("column", "count", "missing", "distinct", "top value", "top freq",
                    "avg length", "top values")


def _table(title: str, headers: tuple[str, ...], pairs: list[Pair], compare: Profile | None,
           diff: TableDiff | None) -> str:
    shown = (headers[0], "", *headers[1:]) if compare is not None else headers
    head = "".join(f"<th>{h}</th>" if i == 0 or i == len(shown) - 1 else
                   f"<th class=\"num\">{h}</th>" for i, h in enumerate(shown))
    body = "".join(_column_rows(pair, headers, compare is not None, diff) for pair in pairs)
    return f"<h2>{title} ({len(pairs)})</h2><table><tr>{head}</tr>{body}</table>"


def _column_rows(pair: Pair, headers: tuple[str, ...], comparing: bool,
                 diff: TableDiff | None) -> str:
    versions = [(c, color) for c, color in zip(pair, (OLD, NEW)) if c is not None]
    if not comparing:
        versions = [(pair[1], OLD)] if pair[1] is not None else versions
    colors = (OLD, NEW) if comparing else (OLD, OLD)
    chart = (_histogram_svg(pair, colors) if headers is NUMERIC_HEADERS
             else _top_svg(pair, colors))
    rows = []
    for i, (col, color) in enumerate(versions):
        cells = _stat_cells(col, headers, diff if col is pair[1] else None)
        name = _name_cell(pair, len(versions), diff) if i == 0 else ""
        swatch = (f"<td class=\"num\"><span class=\"swatch\" style=\"background:{color}\">"
                  "</span></td>") if comparing else ""
        chart_cell = f"<td rowspan=\"{len(versions)}\">{chart}</td>" if i == 0 else ""
        rows.append(f"<tr class=\"{'first' if i == 0 else ''}\">{name}{swatch}{cells}"
                    f"{chart_cell}</tr>")
    return "".join(rows)


def _name_cell(pair: Pair, span: int, diff: TableDiff | None) -> str:
    old, new = pair
    col = _shown(pair)
    badge = ""
    if diff is not None and old is None:
        badge = "<span class=\"badge added\">added</span>"
    elif diff is not None and new is None:
        badge = "<span class=\"badge removed\">removed</span>"
    elif old is not None and new is not None and old.type != new.type:
        badge = f"<span class=\"badge retyped\">{esc(old.type)} → {esc(new.type)}</span>"
    return (f"<td rowspan=\"{span}\"><div class=\"name\">{esc(col.name)}</div>"
            f"<span class=\"type\">{esc(col.type)}</span>{badge}</td>")


def _stat_cells(col: ColumnProfile, headers: tuple[str, ...], diff: TableDiff | None) -> str:
    values = _numeric_stats(col) if headers is NUMERIC_HEADERS else _category_stats(col)
    cells = []
    for key, text in values:
        shift = diff.shifted(col.name, key) if diff is not None else None
        css = "num shift" if shift else ("num bad" if key == "missing" and col.missing else "num")
        title = f" title=\"{esc(shift.note)}\"" if shift else ""
        cells.append(f"<td class=\"{css}\"{title}>{esc(text)}</td>")
    return "".join(cells)


def _numeric_stats(col: ColumnProfile) -> list[tuple[str, str]]:
    kind = col.type
    return [("count", fmt.count(col.count)), ("missing", fmt.rate(col.missing_rate)),
            ("mean", fmt.value(col.mean, kind)), ("std", fmt.spread(col.std, kind)),
            ("min", fmt.value(col.min, kind)),
            ("median", fmt.value(col.quantiles.get("p50"), kind)),
            ("max", fmt.value(col.max, kind))]


def _category_stats(col: ColumnProfile) -> list[tuple[str, str]]:
    top, freq = (col.top[0][0], col.top[0][1]) if col.top else ("", None)
    distinct = fmt.count(col.distinct) if col.distinct_exact else f"~{fmt.count(col.distinct)}"
    length = fmt.number(round(col.length["mean"], 1)) if col.length else ""
    if col.type == "bool" and col.mean is not None:
        length = ""
    return [("count", fmt.count(col.count)), ("missing", fmt.rate(col.missing_rate)),
            ("values" if col.distinct <= len(col.top) else "distinct", distinct),
            ("top", fmt.clip(str(top), 40)), ("freq", fmt.count(freq)), ("length", length)]


def rebin(hist: Histogram, lo: float, hi: float, bins: int) -> list[float]:
    """Counts of ``hist`` spread over ``bins`` equal bins on [lo, hi], assuming values are
    uniform inside each original bin (to overlay two histograms with different edges)."""
    out = [0.0] * bins
    step = (hi - lo) / bins or 1.0
    for i, n in enumerate(hist.counts):
        a = hist.start + i * hist.width
        b = a + hist.width
        first, last = int((a - lo) / step), int((b - lo) / step)
        for j in range(max(first, 0), min(last, bins - 1) + 1):
            left, right = max(a, lo + j * step), min(b, lo + (j + 1) * step)
            if right > left:
                out[j] += n * (right - left) / hist.width
    return out


def _histogram_svg(pair: Pair, colors: tuple[str, str]) -> str:
    hists = [(c.histogram, color) for c, color in zip(pair, colors)
             if c is not None and c.histogram is not None and c.is_numeric]
    if not hists:
        return ""
    lo = min(h.start for h, _ in hists)
    hi = max(h.end for h, _ in hists)
    series = []
    for h, color in hists:
        counts = rebin(h, lo, hi, BINS) if len(hists) > 1 else [float(c) for c in h.counts]
        total = sum(counts) or 1.0
        series.append(([c / total for c in counts], color))
    kind = _shown(pair).type
    return _bars_svg(series, fmt.value(_axis(lo, kind), kind), fmt.value(_axis(hi, kind), kind))


def _axis(x: float, kind: str) -> float:
    return int(x) if kind in ("int", "datetime") and float(x).is_integer() else x


def _bars_svg(series: list[tuple[list[float], str]], left: str, right: str) -> str:
    top = max(max(s) for s, _ in series) or 1.0
    plot_h = CHART_H - 14
    rects = []
    for k, (fractions, color) in enumerate(series):
        width = CHART_W / len(fractions)
        opacity = "0.85" if len(series) == 1 else ("0.55" if k == 0 else "0.6")
        for i, f in enumerate(fractions):
            h = plot_h * f / top
            if h > 0:
                rects.append(f"<rect x=\"{i * width:.1f}\" y=\"{plot_h - h:.1f}\" "
                             f"width=\"{max(width - 1, 0.5):.1f}\" height=\"{h:.1f}\" "
                             f"fill=\"{color}\" fill-opacity=\"{opacity}\"/>")
    return (f"<svg width=\"{CHART_W}\" height=\"{CHART_H}\" viewBox=\"0 0 {CHART_W} {CHART_H}\" "
            f"role=\"img\">{''.join(rects)}<line x1=\"0\" y1=\"{plot_h}\" x2=\"{CHART_W}\" "
            f"y2=\"{plot_h}\" stroke=\"#d0d7de\"/><text x=\"0\" y=\"{CHART_H - 2}\">{esc(left)}"
            f"</text><text x=\"{CHART_W}\" y=\"{CHART_H - 2}\" text-anchor=\"end\">{esc(right)}"
            "</text></svg>")


def _top_svg(pair: Pair, colors: tuple[str, str], shown: int = 5) -> str:
    cols = [(c, color) for c, color in zip(pair, colors) if c is not None and c.count]
    if not cols:
        return ""
    notes = [fmt.no_frequent_values(c) for c, _ in cols]
    if all(notes):
        return f"<span class=\"type\">{esc(notes[-1])}</span>"
    values = list(dict.fromkeys(str(v) for c, _ in reversed(cols) for v, _ in c.top))[:shown]
    bar_h = 10 if len(cols) > 1 else 12
    row_h = bar_h * len(cols) + 4
    items = []
    for i, value in enumerate(values):
        y = i * row_h
        items.append(f"<text x=\"0\" y=\"{y + row_h / 2 + 2:.0f}\">{esc(fmt.clip(value, 14))}"
                     "</text>")
        for k, (col, color) in enumerate(cols):
            share = dict((str(v), n) for v, n in col.top).get(value, 0) / col.count
            top = y + k * bar_h
            items.append(f"<rect x=\"80\" y=\"{top}\" width=\"{share * 100:.1f}\" "
                         f"height=\"{bar_h - 2}\" fill=\"{color}\"><title>{esc(value)}: "
                         f"{share:.1%}</title></rect><text x=\"{84 + share * 100:.1f}\" "
                         f"y=\"{top + bar_h - 3}\" style=\"font-size:9px\">{share:.0%}</text>")
    height = max(row_h * len(values), 10)
    return (f"<svg width=\"{CHART_W}\" height=\"{height}\" viewBox=\"0 0 {CHART_W} {height}\" "
            f"role=\"img\">{''.join(items)}</svg>")


def _sample(profile: Profile, sample_rows: SampleArg) -> str:
    if isinstance(sample_rows, tuple):
        header, rows = sample_rows
    elif profile.sample and sample_rows:
        header, rows = profile.sample["header"], profile.sample["rows"][:sample_rows]
    else:
        return ""
    if not rows:
        return ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt.clip(_text(v), 80))}</td>" for v in row)
                   + "</tr>" for row in rows)
    return (f"<h2>Sample rows ({len(rows)})</h2><div class=\"sample\"><table><tr>{head}</tr>"
            f"{body}</table></div>")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _warnings(profile: Profile, compare: Profile | None) -> str:
    items = [(profile, w) for w in profile.warnings]
    if compare is not None:
        items += [(compare, w) for w in compare.warnings]
    if not items:
        return ""
    lis = "".join(f"<li>{esc(w)}</li>" for _, w in items)
    return f"<h2>Warnings ({len(items)})</h2><div class=\"box warn\"><ul>{lis}</ul></div>"
