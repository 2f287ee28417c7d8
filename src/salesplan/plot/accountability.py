"""Charts of forecast accountability: the error of the calls and of salesplan's forecast per week of the period.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"week": [1, 2, 13], "calls_error": [0.4, 0.3, 0.1], "model_error": [0.3, 0.2, 0.1],
...                       "gain": [0.1, 0.1, 0.0], "gain_low": [0.02, 0.05, -0.02], "gain_high": [0.2, 0.15, 0.03]})
>>> ax = calls_vs_model_chart(table)
>>> ax.get_legend_handles_labels()[1]
['calls', 'salesplan forecast']
>>> [line.get_xdata().tolist() for line in ax.get_lines()]  # weeks 3-12 were not re-run: no line across them
[[1, 2], [13], [1, 2], [13]]
>>> [float(p.get_x()) for p in ax.patches]  # shaded: weeks 1 and 2 (gain interval above 0), not week 13
[0.5, 1.5]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.plot._base import get_ax

__all__ = ["calls_vs_model_chart"]


def calls_vs_model_chart(table: pd.DataFrame, *, ax: Any = None, title: str | None = None) -> Any:
    """Mean absolute log error of the calls and of the model per week of the period.

    Weeks where the model is clearly closer (gain interval above zero) are shaded.

    Parameters
    ----------
    table : DataFrame
        ``week, calls_error, model_error, gain_low`` (``ForecastAccountability.comparison``).
    ax : matplotlib Axes, optional
    title : str, optional
    """
    ax = get_ax(ax, figsize=(7.0, 3.8))
    table = table.sort_values("week", kind="stable")
    weeks = table["week"].to_numpy()
    # a line joins only adjacent weeks: the weeks that were not re-run (e.g. 1 and 13 only) get no line between
    # them, which would suggest errors nobody measured
    runs = np.split(np.arange(len(weeks)), np.flatnonzero(np.diff(weeks) != 1) + 1) if len(weeks) else []
    for column, marker, color, label in (("calls_error", "o", "#c0392b", "calls"),
                                         ("model_error", "s", "#2c6fbb", "salesplan forecast")):
        values = table[column].to_numpy()
        for i, run in enumerate(runs):
            ax.plot(weeks[run], values[run], marker=marker, color=color, label=label if i == 0 else None)
    if len(weeks):
        ax.set_xticks(weeks)
    for week, low in zip(weeks, table["gain_low"].to_numpy(), strict=True):
        if low == low and low > 0:
            ax.axvspan(week - 0.5, week + 0.5, color="#2c6fbb", alpha=0.08, lw=0)
    ax.set_xlabel("week of the period")
    ax.set_ylabel("mean |log(forecast / actual)|")
    ax.legend(frameon=False)
    ax.set_title(title or "Forecast error per week (shaded: salesplan clearly closer)")
    return ax
