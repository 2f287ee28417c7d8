"""The pipeline waterfall chart: opening pipeline, the bars that add and subtract, closing pipeline.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"category": ["opening", "created", "won", "closing"], "count": [3, 1, 1, 3],
...                       "value": [300.0, 50.0, 120.0, 230.0], "sign": [0, 1, -1, 0]})
>>> ax = waterfall_chart(table)
>>> [t.get_text() for t in ax.get_xticklabels()]
['opening', 'created', 'won', 'closing']
>>> [(float(b.get_y()), float(b.get_height())) for b in ax.patches]  # 300 + 50 - 120 = 230
[(0.0, 300.0), (300.0, 50.0), (350.0, -120.0), (0.0, 230.0)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.plot._base import compact_numbers, get_ax

__all__ = ["waterfall_chart"]


def waterfall_chart(table: pd.DataFrame, *, ax: Any = None, title: str | None = None) -> Any:
    """Bars from the opening to the closing pipeline value, each labelled with its count of deals.

    Green bars add, red bars subtract; the opening and closing pipelines are blue.

    Parameters
    ----------
    table : DataFrame
        ``category, count, value, sign`` in bar order (one process of ``Waterfall.table``).
    ax : matplotlib Axes, optional
    title : str, optional
        Default "Pipeline: opening to closing".
    """
    ax = get_ax(ax, figsize=(8.0, 4.0))
    level = 0.0
    tops: list[float] = []
    for i, row in enumerate(table.itertuples(index=False)):
        if row.sign == 0:
            bottom, height, color = 0.0, row.value, "#1f5f99"
            level = row.value
        else:
            height = row.sign * row.value
            bottom, color = level, "#2e7d32" if row.sign > 0 else "#c62828"
            level += height
        ax.bar(i, height, bottom=bottom, color=color, width=0.7)
        ax.annotate(f"{row.count}", (i, max(bottom, bottom + height)), textcoords="offset points",
                    xytext=(0, 2), ha="center", fontsize="x-small")
        tops.append(max(bottom, bottom + height))
    ax.set_ylim(0, max(max(tops, default=0.0), 1e-9) * 1.15)  # room for the count labels under the title
    ax.set_xticks(np.arange(len(table)), [str(c).replace("_", " ") for c in table["category"]], rotation=45,
                  ha="right")
    ax.set_xlabel("opening pipeline, changes (number of deals above each bar), closing pipeline")
    ax.set_ylabel("pipeline value")
    compact_numbers(ax.yaxis)
    ax.set_title(title or "Pipeline: opening to closing", fontsize="medium")
    return ax
