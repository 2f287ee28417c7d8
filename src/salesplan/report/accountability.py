"""The "forecast accountability" section of the control report.

How the pipeline moved, how good the forecast calls were, whether salesplan's forecast beats them, and which
deals are at risk.

Layout only: every figure is an attribute of :class:`salesplan.Analysis` (``waterfall``,
``call_accuracy_by_rep``, ``accountability``, ``model_vs_calls``, ``deals_at_risk``).

Examples
--------
>>> from salesplan.report.accountability import section_accountability
>>> section_accountability.__name__
'section_accountability'
"""

from __future__ import annotations

from salesplan.plot import accountability as plot_accountability
from salesplan.report.blocks import KeyFigure, Table
from salesplan.report.context import ReportContext, piece, render
from salesplan.report.model import Section

__all__ = ["section_accountability"]


def section_accountability(ctx: ReportContext) -> Section:
    """Pipeline waterfall of the period, call accuracy per rep, salesplan against the calls, deals at risk."""
    a = ctx.analysis
    level = f"{a.settings.confidence:.0%}"
    sec = Section("accountability", f"Forecast accountability — {a.period_label()}",
                  intro="How the pipeline expected to close in the period moved, how close the forecast calls "
                        "came to what was won (accuracy = forecast / actual; 85–115% is good), whether "
                        "salesplan's forecast, re-run from what was known at each call's date, is closer, and "
                        "which deals expected to close soon are likely to be lost.")
    with piece(sec, "pipeline waterfall"):
        w = a.waterfall
        sec.add_chart(render(w.plot, f"Pipeline expected to close in {w.period}",
                             f"From {w.start:%Y-%m-%d} to {w.end:%Y-%m-%d}: opening pipeline, what was added "
                             "(created, reopened, pulled in, value up) and removed (pushed out, value down, won, "
                             "lost), closing pipeline; bars are values, labels count deals."))
        sec.add_table(Table("waterfall", f"Pipeline waterfall {w.period}", a.waterfall_table,
                            note="sign: +1 adds to the pipeline, -1 removes from it; values at the amount known at "
                                 "the end date (opening and closing at their own dates)."))
    with piece(sec, "forecast calls"):
        sec.add_table(Table("call_accuracy", "Forecast call accuracy per rep", a.call_accuracy_by_rep,
                            note="Periods ended by the cut. accuracy = call / actual won; in_band = share of calls "
                                 f"within 85–115%; bias = geometric mean of call / actual ({level} interval across "
                                 "periods; above 1 over-forecasts)."))
    if ctx.full:  # salesplan re-run at every call date: the costliest figure of the report
        with piece(sec, "salesplan against the calls"):
            acc = a.accountability
            week = acc.from_week
            sec.add_figure(KeyFigure("Model closer than the calls from week", week if week is not None else "never",
                                     note=f"{level} paired-bootstrap interval over periods",
                                     status="good" if week is not None else "warn", key="model_beats_calls_week"))
            sec.add_chart(render(plot_accountability.calls_vs_model_chart, "Forecast error per week: calls and "
                                 "salesplan", "Mean |log(forecast / actual)| per week of the period; shaded weeks: "
                                 f"salesplan is closer ({level} interval of the gain above zero).",
                                 table=a.model_vs_calls))
            sec.add_table(Table("model_vs_calls", "Calls against salesplan's re-run forecast per week",
                                a.model_vs_calls,
                                note="error = mean |log(forecast / actual)|; gain = calls error − model error (positive: "
                                     f"the model is closer) with its {level} interval (paired bootstrap over periods); "
                                     "the model is re-run at each week from the data known then (amounts, expected "
                                     "close and owners from the deal history)."))
        with piece(sec, "deals at risk"):
            sec.add_table(Table("deals_at_risk", "Deals at risk", a.deals_at_risk,
                                note="Open deals expected to close in the forecast window with a calibrated win "
                                     "probability below 50%, largest first; reasons = the features that move the "
                                     "probability most (change in points).", show_rows=15))
    else:
        sec.add_text("The full level ([report] level = \"full\") adds salesplan's forecast re-run at each call date "
                     "against the calls, and the open deals at risk by a calibrated win probability: the two "
                     "costliest figures of the report, left out here to keep the monthly run short.")
    return sec
