"""A layout check for matplotlib charts: what a reader would call a broken chart, found from the drawn figure.

:func:`figure_problems` draws a Figure on an Agg canvas and returns one line per problem:

``overlap``
    two visible text artists (titles, axis and tick labels, value labels, legend entries) overlap; rotated texts
    are compared as rotated rectangles, not as their bounding boxes;
``outside``
    a text artist leaves the figure;
``legend``
    a legend covers drawn data (a bar, a line vertex or a marker);
``range``
    an axis spans more than :data:`MAX_RANGE_RATIO` times the range of what is drawn on it (``Axes.dataLim``: bars
    from their base, whiskers, bands and intervals included), measured in the axis' scale (log axes in decades);
``clipped``
    drawn data reaches beyond the axis limits, or bars end exactly at the far (non-zero) end of an axis: a bar
    that looks cut off (matplotlib adds no margin beyond a bar's base, e.g. a negative bar hanging from the top);
``offset``
    an axis shows an offset or multiplier text (``1e6``) instead of readable tick labels;
``title`` / ``label``
    an Axes without a title, or an x/y axis without a label (an Axes turned off needs only its title);
``code``
    a title, axis label, legend entry or colour-bar label contains an internal code (:data:`CODE_PATTERNS`).

Colour bars are checked for overlap and codes only. The check reads only public matplotlib API plus
``Annotation._check_xy`` (whether matplotlib draws an annotation at all).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text

#: An axis may span at most this multiple of the range of the data drawn on it.
MAX_RANGE_RATIO = 1.3

#: Internal codes that must not reach a reader (pattern, what it is).
CODE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b[A-Z]{2,}\([^)]*,[^)]*\)", "a model code such as ETS(A,N,N)"),
    (r"\(\(|\)\)", "doubled parentheses such as ((all))"),
    (r"\(all\)", "the internal total row '(all)'"),
    (r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b", "a snake_case column name"),
    (r"value per period", "a placeholder unit"),
    (r"\b(nan|None)\b", "a missing value"),
)

_TOL_PX = 1.0  # overlaps and excursions smaller than a pixel are rendering noise


def figure_of(obj: object) -> Figure:
    """The root Figure of an Axes, a Figure or the first Axes of a list/array of Axes."""
    if isinstance(obj, list | tuple):
        obj = obj[0]
    elif hasattr(obj, "ravel"):
        obj = obj.ravel()[0]
    fig = obj.figure if isinstance(obj, Axes) else obj
    assert isinstance(fig, Figure), f"not an Axes or Figure: {type(obj).__name__}"
    return fig.get_figure(root=True)


def figure_problems(obj: object) -> list[str]:
    """Draw the figure of ``obj`` (Axes or Figure) and return its layout problems (module docstring)."""
    fig = figure_of(obj)
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    problems: list[str] = []
    texts = _drawn_texts(fig, renderer)
    problems += _text_problems(fig, texts, renderer)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        colorbar = hasattr(ax, "_colorbar")
        problems += _code_problems(ax)
        if colorbar:
            continue
        problems += _label_problems(ax)
        if ax.axison:
            problems += _range_problems(ax)
            problems += _legend_problems(ax, renderer)
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                if axis.get_offset_text().get_visible() and axis.get_offset_text().get_text().strip():
                    problems.append(f"offset: {_name(ax)} {name} axis shows {axis.get_offset_text().get_text()!r}")
    return problems


def _name(ax: Axes) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel() or "untitled"
    return f"[{title[:40]}]"


# ------------------------------------------------------------------------------------------------ texts
def _drawn_texts(fig: Figure, renderer: object) -> list[Text]:
    """The text artists matplotlib drew: visible, non-empty, tick labels only for ticks inside the view."""
    hidden: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not ax.axison or not axis.get_visible():
                hidden.update(id(t) for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
                              for t in (tick.label1, tick.label2))
                hidden.add(id(axis.label))
                continue
            lo, hi = sorted(axis.get_view_interval())
            pad = 1e-9 * max(abs(lo), abs(hi), 1.0)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if not lo - pad <= tick.get_loc() <= hi + pad:
                    hidden.update({id(tick.label1), id(tick.label2)})
    out = []
    for t in fig.findobj(Text):
        if id(t) in hidden or not t.get_visible() or not t.get_text().strip() or not _chain_visible(t):
            continue
        if isinstance(t, Annotation) and not t._check_xy(renderer):
            continue
        box = t.get_window_extent(renderer)
        if box.width <= 0 or box.height <= 0:
            continue
        out.append(t)
    return out


def _chain_visible(t: Text) -> bool:
    """False when the text sits in an invisible legend or axis."""
    for parent in (getattr(t, "axes", None),):
        if parent is not None and not parent.get_visible():
            return False
    return True


def _polygon(t: Text, renderer: object) -> np.ndarray:
    """The corners of the text's (possibly rotated) box in display pixels."""
    box = t.get_window_extent(renderer)
    angle = t.get_rotation() % 180
    if min(angle, 180 - angle) < 0.5 or abs(angle - 90) < 0.5:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    flat = Text(text=t.get_text(), fontproperties=t.get_fontproperties(), linespacing=t.get_linespacing())
    flat.set_figure(t.get_figure(root=True))
    w = flat.get_window_extent(renderer).width
    h = flat.get_window_extent(renderer).height
    c = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
    r = np.deg2rad(t.get_rotation())
    u, v = np.array([np.cos(r), np.sin(r)]), np.array([-np.sin(r), np.cos(r)])
    return np.array([c + sx * w / 2 * u + sy * h / 2 * v for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex polygons, overlapping by more than a pixel."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1.0)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= _TOL_PX:
                return False
    return True


def _text_problems(fig: Figure, texts: list[Text], renderer: object) -> list[str]:
    problems = []
    fb = fig.bbox
    polys = [_polygon(t, renderer) for t in texts]
    for t in texts:
        b = t.get_window_extent(renderer)
        if b.x0 < fb.x0 - _TOL_PX or b.y0 < fb.y0 - _TOL_PX or b.x1 > fb.x1 + _TOL_PX or b.y1 > fb.y1 + _TOL_PX:
            problems.append(f"outside: text {t.get_text()!r} leaves the figure")
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in polys]).reshape(-1, 4)
    w = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    h = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    candidates = np.argwhere(np.triu((w > _TOL_PX) & (h > _TOL_PX), k=1))  # bounding boxes meet: test exactly
    for i, j in candidates:
        if _overlap(polys[i], polys[j]):
                problems.append(f"overlap: {texts[i].get_text()!r} and {texts[j].get_text()!r}")
    return problems


# ------------------------------------------------------------------------------------------------ labels
def _labels_of(ax: Axes) -> Iterable[str]:
    yield from (ax.get_title(loc) for loc in ("left", "center", "right"))
    yield ax.get_xlabel()
    yield ax.get_ylabel()
    legend = ax.get_legend()
    if legend is not None:
        yield legend.get_title().get_text()
        yield from (t.get_text() for t in legend.get_texts())


def _code_problems(ax: Axes) -> list[str]:
    out = []
    for text in _labels_of(ax):
        for pattern, what in CODE_PATTERNS:
            if text and re.search(pattern, text):
                out.append(f"code: {_name(ax)} {text!r} contains {what}")
    return out


def _label_problems(ax: Axes) -> list[str]:
    out = []
    if not any(ax.get_title(loc).strip() for loc in ("left", "center", "right")) and not ax.figure.get_suptitle():
        out.append(f"title: an Axes without a title (x label {ax.get_xlabel()!r})")
    if ax.axison:
        for name, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not label.strip():
                out.append(f"label: {_name(ax)} has no {name} axis label")
    return out


# ------------------------------------------------------------------------------------------------ ranges
def _range_problems(ax: Axes) -> list[str]:
    out = []
    data = ax.dataLim
    for name, axis, (d0, d1), (v0, v1) in (("x", ax.xaxis, data.intervalx, ax.get_xlim()),
                                            ("y", ax.yaxis, data.intervaly, ax.get_ylim())):
        if not (np.isfinite(d0) and np.isfinite(d1)):
            continue
        scale = axis.get_transform()
        td0, td1, tv0, tv1 = (float(v) for v in scale.transform(np.array([d0, d1, v0, v1])))
        if not np.all(np.isfinite([td0, td1, tv0, tv1])):
            continue
        dlo, dhi = sorted((td0, td1))
        vlo, vhi = sorted((tv0, tv1))
        dspan, vspan = dhi - dlo, vhi - vlo
        tol = 5e-3 * vspan
        if dlo < vlo - tol or dhi > vhi + tol:
            out.append(f"clipped: {_name(ax)} {name} data {d0:.4g}..{d1:.4g} beyond the axis {v0:.4g}..{v1:.4g}")
        elif vhi != 0 and dspan > 0 and _bar_end(ax, name, scale) >= vhi - 1e-9 * vspan:
            out.append(f"clipped: {_name(ax)} {name} bars reach the end of the axis {vhi:.4g} (no room above)")
        if dspan > 0 and vspan > MAX_RANGE_RATIO * dspan:
            out.append(f"range: {_name(ax)} {name} axis {v0:.4g}..{v1:.4g} is {vspan / dspan:.2f}x the data "
                       f"{d0:.4g}..{d1:.4g}")
    return out


def _bar_end(ax: Axes, name: str, scale: Any) -> float:
    """The far end of the bars (``Axes.bar``/``barh``) along axis ``name`` in scale units (-inf without bars)."""
    ends = [-np.inf]
    for container in ax.containers:
        if isinstance(container, BarContainer):
            for rect in container.patches:
                box = rect.get_bbox()
                lo, hi = (box.x0, box.x1) if name == "x" else (box.y0, box.y1)
                ends.append(float(np.max(scale.transform(np.array([lo, hi])))))
    return max(ends)


def _legend_problems(ax: Axes, renderer: object) -> list[str]:
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return []
    box = legend.get_window_extent(renderer)
    inside = box.padded(-_TOL_PX)
    hits = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_width() and patch.get_height():
            pb = patch.get_window_extent(renderer)
            w = min(pb.x1, inside.x1) - max(pb.x0, inside.x0)
            h = min(pb.y1, inside.y1) - max(pb.y0, inside.y0)
            if w > 0 and h > 0 and pb.width < 0.9 * ax.bbox.width:  # a background band is not data
                hits.append("a bar")
    for line in ax.get_lines():
        if line.get_visible() and line.get_transform().contains_branch(ax.transData):
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
            if _any_inside(xy, inside):
                hits.append(f"line {line.get_label()!r}")
    for coll in ax.collections:
        if isinstance(coll, Collection) and coll.get_visible() and len(coll.get_offsets()) > 1:
            xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float))
            if _any_inside(xy, inside):
                hits.append("markers")
    return [f"legend: {_name(ax)} the legend covers {', '.join(sorted(set(hits)))}"] if hits else []


def _any_inside(xy: np.ndarray, box: object) -> bool:
    ok = np.isfinite(xy).all(axis=1)
    xy = xy[ok]
    return bool(((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)).any())


__all__ = ["CODE_PATTERNS", "MAX_RANGE_RATIO", "figure_of", "figure_problems"]
