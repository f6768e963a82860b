"""The health report's charts as inline SVG, drawn with matplotlib (the ``report`` extra).

matplotlib's object API is used without pyplot: no global figure registry, no GUI backend, nothing left
behind in a long-lived worker process. Text stays text in the SVG (``svg.fonttype: none``: smaller,
selectable, drawn in the page's font) and element ids are stable, so the same history gives the same file.

Without matplotlib every function returns None and the HTML report shows its tables only.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from airflow_provider_clarityq.core.history.series import DriftEvent, Point, check_names

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["VERDICT_COLOURS", "charts_available", "key_age_chart", "latency_chart", "verdict_chart"]

#: One colour per verdict, shared with the HTML badges; marker shapes differ too (colour-blind readers).
VERDICT_COLOURS: Final = {
    "HEALTHY": "#2e7d32",
    "DEGRADED": "#ef8f00",
    "UNREACHABLE": "#6a5acd",
    "CONFIG_ERROR": "#c62828",
}
_VERDICT_MARKERS: Final = {"HEALTHY": "o", "DEGRADED": "D", "UNREACHABLE": "s", "CONFIG_ERROR": "X"}
_VERDICT_ROWS: Final = ("CONFIG_ERROR", "UNREACHABLE", "DEGRADED", "HEALTHY")  # bottom to top
#: Line colours for the checks: no red (red marks failures) and distinct in greyscale order.
_LINE_COLOURS: Final = ("#1f77b4", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#2ca02c")
_RC: Final = {
    "svg.fonttype": "none",
    "svg.hashsalt": "clarityq-health",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#9e9e9e",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}
_WIDTH_IN: Final = 10.0


def charts_available() -> bool:
    """True when matplotlib can be imported (``pip install 'airflow-provider-clarityq[report]'``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(height_in: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(_WIDTH_IN, height_in), dpi=96, layout="constrained")


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element to inline: no XML prolog, no DOCTYPE, scales with the page."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # Fixed pt sizes would overflow narrow windows; the viewBox keeps the aspect ratio.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%"', text, count=1)


def _date_axis(ax: Axes, series: Sequence[Point]) -> None:
    """Dates on x, padded so one report or one night still gets a readable axis (not years around it)."""
    from datetime import timedelta

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    first, last = series[0].at, series[-1].at
    pad = max((last - first) * 0.03, timedelta(hours=12))
    ax.set_xlim(cast(Any, first - pad), cast(Any, last + pad))
    locator = AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _times(chosen: Sequence[Point]) -> Any:
    """The x values; matplotlib plots datetimes natively although its type stubs list only numbers."""
    return [p.at for p in chosen]


def _with_rc(draw: Callable[[], str]) -> str:
    """Run ``draw`` with the chart style (rcParams are read while artists are created)."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, _RC)):
        return draw()


def _finish(fig: Figure, ax: Axes, series: Sequence[Point], *, legend: bool = True) -> str:
    """Date axis, the legend beside the plot, and the figure as inline SVG."""
    _date_axis(ax, series)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


def verdict_chart(series: Sequence[Point], drift: Sequence[DriftEvent] = ()) -> str | None:
    """One row per verdict, a marker per report, a faint line through the changes; drift as triangles."""
    if not series or not charts_available():
        return None

    def draw() -> str:
        fig = _figure(2.3)
        ax = fig.add_subplot()
        rows = {v: i for i, v in enumerate(_VERDICT_ROWS)}
        ax.step(
            _times(series),
            [rows.get(p.verdict, 0) for p in series],
            where="post",
            color="#bdbdbd",
            linewidth=0.8,
            zorder=1,
        )
        for verdict in _VERDICT_ROWS:
            chosen = [p for p in series if p.verdict == verdict]
            if chosen:
                ax.scatter(
                    _times(chosen),
                    [rows[verdict]] * len(chosen),
                    s=28,
                    marker=_VERDICT_MARKERS[verdict],
                    color=VERDICT_COLOURS[verdict],
                    zorder=3,
                    label=f"{verdict} ({len(chosen)})",
                )
        if drift:
            ax.scatter(
                cast(Any, [e.at for e in drift]),
                [len(_VERDICT_ROWS) - 0.45] * len(drift),
                marker="v",
                s=36,
                color="#37474f",
                zorder=3,
                label=f"grants changed ({len(drift)})",
            )
        ax.set_yticks(range(len(_VERDICT_ROWS)), list(_VERDICT_ROWS))
        ax.set_ylim(-0.6, len(_VERDICT_ROWS) - 0.2)
        ax.grid(axis="y", visible=False)
        ax.set_title("Verdict of each health report")
        return _finish(fig, ax, series)

    return _with_rc(draw)


def latency_chart(series: Sequence[Point]) -> str | None:
    """Each check's duration per report (milliseconds); a failed check is a red cross on its line."""
    names = check_names(series)
    if not names or not charts_available():
        return None

    def draw() -> str:
        fig = _figure(3.0)
        ax = fig.add_subplot()
        for index, name in enumerate(names):
            chosen = [p for p in series if name in p.check_ms]
            ax.plot(
                _times(chosen),
                [max(p.check_ms[name], 1) for p in chosen],
                marker="o",
                markersize=2.5,
                linewidth=1.1,
                color=_LINE_COLOURS[index % len(_LINE_COLOURS)],
                label=name,
            )
            failed = [p for p in chosen if p.check_status.get(name) == "fail"]
            if failed:
                ax.scatter(
                    _times(failed),
                    [max(p.check_ms[name], 1) for p in failed],
                    marker="x",
                    s=30,
                    color=VERDICT_COLOURS["CONFIG_ERROR"],
                    zorder=4,
                )
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")  # a 10 s timeout must not flatten the 50 ms lines
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("ms (log scale)")
        ax.set_title("Latency per check (a cross marks a failed check)")
        return _finish(fig, ax, series)

    return _with_rc(draw)


def key_age_chart(series: Sequence[Point]) -> str | None:
    """Age of the AccessKey in use, with the rotation limit as a dashed line."""
    aged = [p for p in series if p.key_age_days is not None]
    if not aged or not charts_available():
        return None

    def draw() -> str:
        fig = _figure(2.3)
        ax = fig.add_subplot()
        ax.plot(
            _times(aged),
            [p.key_age_days or 0 for p in aged],
            marker="o",
            markersize=2.5,
            linewidth=1.2,
            color="#1565c0",
            label="key in use",
        )
        limits = [p.max_key_age_days for p in aged if p.max_key_age_days is not None]
        if limits:
            ax.axhline(limits[-1], color=VERDICT_COLOURS["CONFIG_ERROR"], linestyle="--", linewidth=1)
            ax.annotate(
                f"rotate after {limits[-1]} days",
                xy=(0.0, limits[-1]),
                xycoords=("axes fraction", "data"),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=8,
                color=VERDICT_COLOURS["CONFIG_ERROR"],
            )
        top = max([*(p.key_age_days or 0 for p in aged), *limits])
        ax.set_ylim(0, top * 1.15 + 1)
        ax.set_ylabel("days")
        ax.set_title("Age of the AccessKey in use")
        return _finish(fig, ax, series, legend=False)

    return _with_rc(draw)
