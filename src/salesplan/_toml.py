"""Reading TOML files (process definitions, assignment rules, report configs) with one set of clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from salesplan.errors import ConfigError


def read_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """Parse a TOML file; a missing file, invalid TOML or non-UTF-8 text raises ConfigError naming the file.

    ``what`` names the file in the not-found message (e.g. ``"configuration file"``). Nothing in the file is
    executed: TOML is data only.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "x.toml"
    ...     _ = p.write_text('a = 1\\n', encoding="utf-8")
    ...     read_toml(p)
    {'a': 1}
    >>> try:
    ...     read_toml("/nonexistent/x.toml")
    ... except ConfigError as err:
    ...     print(err)
    /nonexistent/x.toml: file not found
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
