"""Sales processes: ordered working stages, won/lost outcomes and the activities each stage needs.

A :class:`SalesProcess` is the shared vocabulary of validation, funnel estimation, planning and control. The five
primary processes of B2B sales management have defaults in :data:`DEFAULT_PROCESSES`; users override them in code
or in TOML (:func:`load_processes`, :func:`save_processes`).

Examples
--------
>>> from salesplan import SalesProcess
>>> p = SalesProcess("demo", ["lead", "offer"], activities={"lead": {"calls": 3}})
>>> p.next_stage("lead"), p.next_stage("offer")
('offer', 'won')
>>> p.activity_kinds
('calls',)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from salesplan._toml import read_toml
from salesplan.errors import ConfigError

__all__ = ["SalesProcess", "DEFAULT_PROCESSES", "default_processes", "load_processes", "save_processes"]

_ALLOWED_KEYS = {"name", "stages", "won", "lost", "activities", "description"}


@dataclass(frozen=True)
class SalesProcess:
    """A sales process: ordered working stages that lead to a won or lost outcome.

    Parameters
    ----------
    name : str
        Process name as it appears in ``opportunities.process`` (e.g. ``"acquisition"``).
    stages : sequence of str
        Ordered working stages. An opportunity enters the first one when it is created.
    won, lost : str
        Names of the two outcomes; stage events with these names close the opportunity.
    activities : mapping, optional
        ``{stage: {activity kind: expected count per opportunity entering the stage}}``, e.g.
        ``{"contacted": {"calls": 2.5}}``. Used by planning when no measured ratios are given.
    description : str
        Free text shown in reports.

    Examples
    --------
    >>> p = SalesProcess("acq", ["lead", "qualified", "offer"])
    >>> p.index("qualified")
    1
    >>> p.is_outcome("won"), p.all_stages
    (True, ('lead', 'qualified', 'offer', 'won', 'lost'))
    """

    name: str
    stages: tuple[str, ...]
    won: str = "won"
    lost: str = "lost"
    activities: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        stages = tuple(str(s) for s in self.stages) if not isinstance(self.stages, str) else None
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"SalesProcess: name must be a non-empty string, got {self.name!r}")
        if not stages:
            raise ConfigError(f"SalesProcess {self.name!r}: stages must be a non-empty list of stage names")
        dupes = sorted({s for s in stages if stages.count(s) > 1})
        if dupes:
            raise ConfigError(f"SalesProcess {self.name!r}: stage names repeat: {dupes}")
        if self.won == self.lost:
            raise ConfigError(f"SalesProcess {self.name!r}: won and lost outcomes must differ")
        clash = {self.won, self.lost} & set(stages)
        if clash:
            raise ConfigError(f"SalesProcess {self.name!r}: outcome names {sorted(clash)} are also working stages")
        acts: dict[str, MappingProxyType] = {}
        for stage, kinds in dict(self.activities or {}).items():
            if stage not in stages:
                raise ConfigError(
                    f"SalesProcess {self.name!r}: activities name stage {stage!r}, which is not one of {list(stages)}"
                )
            clean = {}
            for kind, value in dict(kinds).items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = float("nan")
                if not number >= 0:
                    raise ConfigError(
                        f"SalesProcess {self.name!r}: activities[{stage!r}][{kind!r}] must be a number >= 0, "
                        f"got {value!r}"
                    )
                clean[str(kind)] = number
            acts[stage] = MappingProxyType(clean)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "activities", MappingProxyType(acts))

    @property
    def outcomes(self) -> tuple[str, str]:
        """The (won, lost) outcome names."""
        return (self.won, self.lost)

    @property
    def all_stages(self) -> tuple[str, ...]:
        """Working stages followed by the won and lost outcomes."""
        return (*self.stages, self.won, self.lost)

    @property
    def activity_kinds(self) -> tuple[str, ...]:
        """Activity kinds named anywhere in ``activities``, in first-seen order."""
        kinds: list[str] = []
        for per_stage in self.activities.values():
            kinds.extend(k for k in per_stage if k not in kinds)
        return tuple(kinds)

    def index(self, stage: str) -> int:
        """Position of a working stage (0-based); outcomes come after the last working stage."""
        if stage in self.stages:
            return self.stages.index(stage)
        if stage in (self.won, self.lost):
            return len(self.stages)
        raise ConfigError(f"SalesProcess {self.name!r}: unknown stage {stage!r}; stages are {list(self.all_stages)}")

    def next_stage(self, stage: str) -> str:
        """The stage after ``stage``: the next working stage, or the won outcome after the last one."""
        i = self.index(stage)
        if stage in self.outcomes:
            raise ConfigError(f"SalesProcess {self.name!r}: {stage!r} is an outcome and has no next stage")
        return self.stages[i + 1] if i + 1 < len(self.stages) else self.won

    def is_outcome(self, stage: str) -> bool:
        """True for the won and lost outcome names."""
        return stage in (self.won, self.lost)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, as written to TOML."""
        out: dict[str, Any] = {"name": self.name, "stages": list(self.stages), "won": self.won, "lost": self.lost}
        if self.description:
            out["description"] = self.description
        if self.activities:
            out["activities"] = {s: dict(k) for s, k in self.activities.items()}
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, source: str = "process definition") -> SalesProcess:
        """Build a process from a dict such as one ``[[process]]`` table of a TOML file."""
        unknown = set(spec) - _ALLOWED_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}; allowed are {sorted(_ALLOWED_KEYS)}")
        missing = {"name", "stages"} - set(spec)
        if missing:
            raise ConfigError(f"{source}: missing key(s) {sorted(missing)}")
        if not isinstance(spec["stages"], list | tuple):
            raise ConfigError(f"{source}: 'stages' must be a list of stage names")
        return cls(
            name=spec["name"],
            stages=tuple(spec["stages"]),
            won=spec.get("won", "won"),
            lost=spec.get("lost", "lost"),
            activities=spec.get("activities", {}),
            description=spec.get("description", ""),
        )


def _defaults() -> dict[str, SalesProcess]:
    specs = [
        SalesProcess(
            "acquisition",
            ("prospect_selected", "contacted", "qualified", "offer", "negotiation"),
            activities={
                "prospect_selected": {"calls": 2.0},
                "contacted": {"calls": 1.5, "visits": 0.3},
                "qualified": {"visits": 1.0},
                "offer": {"offers": 1.0, "visits": 0.5},
                "negotiation": {"visits": 1.0, "calls": 1.0},
            },
            description="Win new customers, starting from address selection.",
        ),
        SalesProcess(
            "new_product",
            ("identified", "presented", "trial", "offer", "negotiation"),
            activities={
                "identified": {"calls": 1.0},
                "presented": {"visits": 1.0},
                "trial": {"visits": 0.5, "calls": 1.0},
                "offer": {"offers": 1.0},
                "negotiation": {"visits": 0.5},
            },
            description="Introduce a new product to existing customers.",
        ),
        SalesProcess(
            "delivery_rate",
            ("potential_analysed", "needs_meeting", "offer", "negotiation"),
            activities={
                "potential_analysed": {"calls": 1.0},
                "needs_meeting": {"visits": 1.0},
                "offer": {"offers": 1.0},
                "negotiation": {"visits": 0.5, "calls": 1.0},
            },
            description="Raise our share of an existing customer's wallet.",
        ),
        SalesProcess(
            "cross_selling",
            ("opportunity_identified", "presented", "offer", "negotiation"),
            activities={
                "opportunity_identified": {"calls": 1.0},
                "presented": {"visits": 0.5, "calls": 1.0},
                "offer": {"offers": 1.0},
                "negotiation": {"calls": 1.0},
            },
            description="Sell further product families to existing customers.",
        ),
        SalesProcess(
            "retention",
            ("review_scheduled", "review_held", "renewal_offer"),
            activities={
                "review_scheduled": {"calls": 1.0},
                "review_held": {"visits": 1.0},
                "renewal_offer": {"offers": 1.0, "calls": 0.5},
            },
            description="Stabilise existing relationships (renewals, account reviews).",
        ),
    ]
    return {p.name: p for p in specs}


DEFAULT_PROCESSES: Mapping[str, SalesProcess] = MappingProxyType(_defaults())
"""The five primary processes, keyed by name (read-only)."""


def default_processes() -> dict[str, SalesProcess]:
    """A fresh, editable dict of the five default processes.

    Examples
    --------
    >>> sorted(default_processes())
    ['acquisition', 'cross_selling', 'delivery_rate', 'new_product', 'retention']
    """
    return dict(DEFAULT_PROCESSES)


def load_processes(source: str | Path | Mapping[str, Any]) -> dict[str, SalesProcess]:
    """Load processes from a TOML file (or a parsed TOML mapping) with ``[[process]]`` tables.

    Examples
    --------
    >>> import tomllib
    >>> doc = tomllib.loads('[[process]]\\nname = "x"\\nstages = ["a", "b"]\\n')
    >>> load_processes(doc)["x"].stages
    ('a', 'b')
    """
    label = "process definition"
    if isinstance(source, str | Path):
        label = str(source)
        doc = read_toml(source)
    else:
        doc = dict(source)
    entries = doc.get("process")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: expected one or more [[process]] tables")
    out: dict[str, SalesProcess] = {}
    for i, entry in enumerate(entries):
        proc = SalesProcess.from_dict(entry, source=f"{label} [[process]] #{i + 1}")
        if proc.name in out:
            raise ConfigError(f"{label}: process {proc.name!r} is defined twice")
        out[proc.name] = proc
    return out


def save_processes(processes: Iterable[SalesProcess] | Mapping[str, SalesProcess], path: str | Path) -> Path:
    """Write processes to a TOML file that :func:`load_processes` reads back unchanged."""
    procs = list(processes.values()) if isinstance(processes, Mapping) else list(processes)
    path = Path(path)
    path.write_text(tomli_w.dumps({"process": [p.to_dict() for p in procs]}), encoding="utf-8")
    return path
