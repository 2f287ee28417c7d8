"""Charts of forecast accountability: the error of the calls and of salesplan's forecast per week of the period.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"week": [1, 5, 9], "calls_error": [0.4, 0.3, 0.1], "model_error": [0.3, 0.2, 0.1],
...                       "gain": [0.1, 0.1, 0.0], "gain_low": [0.02, 0.05, -0.02], "gain_high": [0.2, 0.15, 0.03]})
>>> ax = calls_vs_model_chart(table)
>>> [(line.get_label(), line.get_ydata().tolist()) for line in ax.get_lines()]
[('calls', [0.4, 0.3, 0.1]), ('salesplan forecast', [0.3, 0.2, 0.1])]
>>> [float(p.get_x()) for p in ax.patches]  # shaded: weeks 1 and 5 (gain interval above 0), not week 9
[0.5, 4.5]
"""

from __future__ import annotations

from typing import Any

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
    weeks = table["week"].to_numpy()
    ax.plot(weeks, table["calls_error"].to_numpy(), marker="o", color="#c0392b", label="calls")
    ax.plot(weeks, table["model_error"].to_numpy(), marker="s", color="#2c6fbb", label="salesplan forecast")
    for week, low in zip(weeks, table["gain_low"].to_numpy(), strict=True):
        if low == low and low > 0:
            ax.axvspan(week - 0.5, week + 0.5, color="#2c6fbb", alpha=0.08, lw=0)
    ax.set_xlabel("week of the period")
    ax.set_ylabel("mean |log(forecast / actual)|")
    ax.legend(frameon=False)
    ax.set_title(title or "Forecast error per week (shaded: salesplan clearly closer)")
    return ax
