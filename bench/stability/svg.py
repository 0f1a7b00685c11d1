"""A small line chart as inline SVG, so that the report is one self-contained HTML file
with no plotting library to install."""

from __future__ import annotations

import math
from html import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
W, H = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 42, 40


def _nice_max(v: float) -> tuple[float, int]:
    """A round top for the y axis at or above ``v``, and how many intervals to split it in."""
    if v <= 0 or not math.isfinite(v):
        return 1.0, 4
    mag = 10 ** math.floor(math.log10(v))
    for m, ticks in ((1, 5), (2, 4), (5, 5), (10, 5)):
        if v <= m * mag:
            return float(m * mag), ticks
    return float(10 * mag), 5


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:.3g}"


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], y_label: str,
               x_label: str = "seconds since the load started",
               marks: dict[str, float] | None = None,
               hline: tuple[str, float] | None = None) -> str:
    """``series``: name -> [(x, y)] (NaN y values leave gaps). ``marks``: labelled
    vertical lines at x; ``hline``: a labelled horizontal line (an SLO)."""
    pts = [(x, y) for s in series.values() for x, y in s if math.isfinite(y)]
    xs = [x for x, _ in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    ymax = max([y for _, y in pts] + [hline[1] * 1.1 if hline else 0.0] + [0.0])
    y1, ticks = _nice_max(ymax)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - min(y, y1) / y1 * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
           f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
           'stroke="#999"/>']
    for k in range(ticks + 1):
        yv = y1 * k / ticks
        y = py(yv)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(yv)}</text>')
    for k in range(6):
        xv = x0 + (x1 - x0) * k / 5
        out.append(f'<text x="{px(xv):.1f}" y="{TOP + ph + 14}" text-anchor="middle">'
                   f'{_fmt(xv)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text x="12" y="{TOP + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {TOP + ph / 2})">{escape(y_label)}</text>')
    for i, (name, x) in enumerate((marks or {}).items()):
        if x0 <= x <= x1:
            out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{TOP}" y2="{TOP + ph}" '
                       'stroke="#888" stroke-dasharray="4 3"/>')
            right = px(x) > LEFT + 0.8 * pw  # label on the left of a line near the edge
            out.append(f'<text x="{px(x) + (-3 if right else 3):.1f}" y="{TOP + 12 + 12 * i}" '
                       f'text-anchor="{"end" if right else "start"}" fill="#555">'
                       f'{escape(name)}</text>')
    if hline:
        y = py(hline[1])
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#d62728" stroke-dasharray="6 3"/>')
        out.append(f'<text x="{LEFT + pw - 4}" y="{y - 3:.1f}" text-anchor="end" '
                   f'fill="#d62728">{escape(hline[0])}</text>')
    legend_x = float(LEFT)
    for i, (name, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        paths, cur = [], []
        for x, y in s:
            if math.isfinite(y):
                cur.append(f"{px(x):.1f},{py(y):.1f}")
            elif cur:
                paths.append(cur)
                cur = []
        if cur:
            paths.append(cur)
        for p in paths:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                       f'points="{" ".join(p)}"/>')
        lx = legend_x  # the legend: one row between the title and the plot
        legend_x += 30 + 6.5 * len(name)
        out.append(f'<rect x="{lx}" y="{TOP - 16}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{TOP - 7}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
