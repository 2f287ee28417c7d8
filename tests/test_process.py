"""SalesProcess: validation of definitions, stage order, TOML round trip and configuration errors."""

from __future__ import annotations

import pytest

import salesplan as sp
from salesplan.errors import ConfigError, SalesplanError
from salesplan.process import DEFAULT_PROCESSES, SalesProcess, load_processes, save_processes


def test_defaults_have_the_five_primary_processes_and_acquisition_starts_at_address_selection():
    assert sorted(DEFAULT_PROCESSES) == ["acquisition", "cross_selling", "delivery_rate", "new_product",
                                         "retention"]
    acq = DEFAULT_PROCESSES["acquisition"]
    assert acq.stages == ("prospect_selected", "contacted", "qualified", "offer", "negotiation")
    assert acq.all_stages[-2:] == ("won", "lost")
    for proc in DEFAULT_PROCESSES.values():
        assert set(proc.activities) <= set(proc.stages)
    with pytest.raises(TypeError):
        DEFAULT_PROCESSES["x"] = acq  # read-only


def test_next_stage_index_and_outcomes():
    p = SalesProcess("p", ["lead", "offer"], won="signed", lost="dropped")
    assert [p.next_stage(s) for s in p.stages] == ["offer", "signed"]
    assert p.index("lead") == 0 and p.index("signed") == 2 and p.index("dropped") == 2
    assert p.outcomes == ("signed", "dropped") and p.is_outcome("dropped") and not p.is_outcome("lead")
    with pytest.raises(ConfigError, match="'signed' is an outcome"):
        p.next_stage("signed")
    with pytest.raises(ConfigError, match="unknown stage 'visit'"):
        p.index("visit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "", "stages": ["a"]}, "name must be a non-empty string"),
        ({"name": "p", "stages": []}, "stages must be a non-empty list"),
        ({"name": "p", "stages": "abc"}, "stages must be a non-empty list"),
        ({"name": "p", "stages": ["a", "b", "a"]}, r"stage names repeat: \['a'\]"),
        ({"name": "p", "stages": ["a"], "won": "x", "lost": "x"}, "must differ"),
        ({"name": "p", "stages": ["a", "won"]}, r"outcome names \['won'\] are also working stages"),
        ({"name": "p", "stages": ["a"], "activities": {"b": {"calls": 1}}}, "activities name stage 'b'"),
        ({"name": "p", "stages": ["a"], "activities": {"a": {"calls": -1}}}, "must be a number >= 0"),
        ({"name": "p", "stages": ["a"], "activities": {"a": {"calls": "many"}}}, "must be a number >= 0"),
    ],
)
def test_invalid_definitions_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        SalesProcess(**kwargs)
    assert isinstance(info.value, SalesplanError) and isinstance(info.value, ValueError)


def test_activities_are_floats_and_read_only():
    p = SalesProcess("p", ["a", "b"], activities={"a": {"calls": 2}, "b": {"visits": 1, "calls": 0.5}})
    assert p.activities["a"]["calls"] == 2.0 and isinstance(p.activities["a"]["calls"], float)
    assert p.activity_kinds == ("calls", "visits")
    with pytest.raises(TypeError):
        p.activities["a"]["calls"] = 3


def test_toml_round_trip(tmp_path):
    path = save_processes(sp.default_processes(), tmp_path / "processes.toml")
    assert load_processes(path) == dict(DEFAULT_PROCESSES)
    custom = SalesProcess("upsell", ["pitch", "offer"], won="signed", activities={"pitch": {"calls": 1.5}},
                          description="Sell more.")
    save_processes([custom], tmp_path / "one.toml")
    assert load_processes(tmp_path / "one.toml") == {"upsell": custom}


def test_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[process]\nname = 'x'")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_processes(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_processes(tmp_path / "missing.toml")
    bad.write_text('title = "no processes"\n')
    with pytest.raises(ConfigError, match=r"expected one or more \[\[process\]\] tables"):
        load_processes(bad)
    bad.write_text('[[process]]\nname = "x"\nstages = ["a"]\ncolour = "red"\n')
    with pytest.raises(ConfigError, match=r"#1: unknown key\(s\) \['colour'\]"):
        load_processes(bad)
    bad.write_text('[[process]]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['stages'\]"):
        load_processes(bad)
    bad.write_text('[[process]]\nname = "x"\nstages = "a"\n')
    with pytest.raises(ConfigError, match="'stages' must be a list"):
        load_processes(bad)
    bad.write_text('[[process]]\nname = "x"\nstages = ["a"]\n[[process]]\nname = "x"\nstages = ["b"]\n')
    with pytest.raises(ConfigError, match="process 'x' is defined twice"):
        load_processes(bad)
