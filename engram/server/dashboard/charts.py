"""Small SVG charts rendered on the server: no chart library, no script, labels escaped."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
LABEL_WIDTH = 160
CHART_WIDTH = 560


def bar_chart(items: list[tuple[str, int]], title: str) -> Markup:
    """Horizontal bars, one per (label, value), longest first as given."""
    if not items:
        return Markup(f'<p class="empty">No data for {escape(title)}.</p>')
    top = max(value for _, value in items) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 50
    height = BAR_HEIGHT * len(items) + 4
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * BAR_HEIGHT + 2
        width = max(1, round(span * value / top))
        rows.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{value}</text>'
        )
    return Markup(
        f'<svg class="chart bars" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" height="{height}">'
        + "".join(rows) + "</svg>"
    )


def column_chart(items: list[tuple[str, int]], title: str) -> Markup:
    """Vertical columns over time, one per (day, value); the first and last day labelled."""
    if not items:
        return Markup(f'<p class="empty">No data for {escape(title)}.</p>')
    top = max(value for _, value in items) or 1
    height, base = 140, 120
    step = CHART_WIDTH / len(items)
    cols = []
    for i, (label, value) in enumerate(items):
        h = round((base - 10) * value / top)
        cols.append(
            f'<rect x="{i * step + 1:.1f}" y="{base - h}" width="{max(1.0, step - 2):.1f}" '
            f'height="{h}"><title>{escape(label)}: {value}</title></rect>'
        )
    first, last = escape(items[0][0]), escape(items[-1][0])
    axis = (
        f'<line x1="0" y1="{base}" x2="{CHART_WIDTH}" y2="{base}" class="axis"/>'
        f'<text x="0" y="{height - 4}">{first}</text>'
        f'<text x="{CHART_WIDTH}" y="{height - 4}" text-anchor="end">{last}</text>'
        f'<text x="{CHART_WIDTH}" y="12" text-anchor="end">max {top}</text>'
    )
    return Markup(
        f'<svg class="chart columns" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" height="{height}">'
        + "".join(cols) + axis + "</svg>"
    )
