"""String columns of large tidy frames without a round trip through Python objects.

A frame built from an object array of Python strings stores them in pandas' default string dtype, converting every
value. Where the values are taken from a column that already has that dtype, its own array is taken instead: the
same column (same values, same dtype), without the conversion. Any other column is read as before (``to_numpy``),
so the frame constructor sees what it always saw.

Examples
--------
>>> import pandas as pd
>>> s = pd.Series(["a", "b", "c"], dtype=STR)
>>> frame = pd.DataFrame({"x": taken(s, np.array([1, 1, 0, 2]))})
>>> frame["x"].tolist(), frame["x"].dtype == pd.DataFrame({"x": s.to_numpy()[[1, 1, 0, 2]]})["x"].dtype
(['b', 'b', 'a', 'c'], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["STR", "is_str", "as_read", "taken"]

#: the dtype a frame gives a column of Python strings (pandas' default string dtype)
STR = pd.DataFrame({"s": np.array(["a"], dtype=object)})["s"].dtype


def is_str(dtype: Any) -> bool:
    """Whether ``dtype`` is :data:`STR` and that is a string dtype (pandas 3; with pandas 2 it is ``object``).

    Examples
    --------
    >>> is_str(pd.Series([1]).dtype)
    False
    """
    return isinstance(STR, pd.StringDtype) and dtype == STR


def as_read(column: pd.Series) -> Any:
    """``column.to_numpy()`` as a frame constructor reads it: a column of :data:`STR` passes its own array.

    Examples
    --------
    >>> as_read(pd.Series([1, 2])).tolist()
    [1, 2]
    """
    return column.array if is_str(column.dtype) else column.to_numpy()


def taken(column: pd.Series, positions: np.ndarray) -> Any:
    """``column.to_numpy()[positions]`` as a frame constructor reads it (a :data:`STR` column: its array's take).

    Examples
    --------
    >>> taken(pd.Series([1.5, 2.5]), np.array([1, 0, 1])).tolist()
    [2.5, 1.5, 2.5]
    """
    return column.array.take(positions) if is_str(column.dtype) else column.to_numpy()[positions]
