"""The TOML configuration: schema, errors naming file and key, data loading with column mappings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from salesplan.errors import ConfigError, SchemaError
from salesplan.report.config import EXAMPLE_CONFIG, demo_config, load_config, load_data, parse_config


def _write(tmp_path: Path, text: str, name: str = "report.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = '[data]\nopportunities = "opps.csv"\nstage_events = "events.csv"\n'


def test_example_config_is_valid_and_documents_every_table():
    raw = tomllib.loads(EXAMPLE_CONFIG)
    cfg = parse_config(raw, source="example", base=Path("/base"))
    assert cfg.report.formats == ("html", "pdf", "xlsx", "json")
    assert cfg.data["orders"].path == Path("/base/data/orders.csv")
    assert set(cfg.data) == {"customers", "orders", "opportunities", "stage_events", "activities", "targets",
                             "opportunity_history", "forecast_calls"}
    assert cfg.option("capacity", "reps") == {} and cfg.option("capacity", "team") is None
    assert cfg.option("plan", "target_probability") == 0.8


def test_defaults_and_relative_paths(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL))
    assert cfg.report.freq == "M" and cfg.report.confidence == 0.9 and cfg.report.seed == 0
    assert cfg.data["opportunities"].path == tmp_path.resolve() / "opps.csv"
    assert cfg.option("forecast", "horizon") == "3MS"


@pytest.mark.parametrize(("text", "expected"), [
    ('[report]\ntitel = "x"\n' + MINIMAL, "unknown key 'report.titel'"),
    ('[reprot]\ntitle = "x"\n' + MINIMAL, "unknown table [reprot]"),
    ('[report]\nseed = "7"\n' + MINIMAL, "'report.seed' must be int, got str '7'"),
    ('[report]\nconfidence = true\n' + MINIMAL, "'report.confidence' must be float, got bool"),
    ('[report]\nconfidence = 1.5\n' + MINIMAL, "'report.confidence' must be a probability strictly between 0 and 1"),
    ('[report]\nfreq = "W"\n' + MINIMAL, "'report.freq' must be one of"),
    ('[report]\nperiod = "month"\n' + MINIMAL, "'report.period' was renamed to 'report.freq'"),
    (MINIMAL + '[plan]\nconfidence = 0.8\n', "'plan.confidence' was renamed to 'plan.target_probability'"),
    (MINIMAL + '[forecast]\nhorizon_months = 3\n', "'forecast.horizon_months' was renamed to 'forecast.horizon'"),
    (MINIMAL + '[plan]\nhorizon = 2\n', "'plan.horizon' must be a pandas offset or duration string such as '2MS'"),
    ('[report]\nformats = ["html", "docx"]\n' + MINIMAL, "'report.formats'"),
    ('[report]\nsections = ["overview", "gossip"]\n' + MINIMAL, "unknown section(s) ['gossip']"),
    ('[report]\nas_of = "yesterday-ish"\n' + MINIMAL, "'report.as_of' is not a date"),
    (MINIMAL + '[data.orders]\npath = "o.csv"\ncolumn = {a = "b"}\n', "unknown key 'data.orders.column'"),
    (MINIMAL + '[data.orders]\ncolumns = {a = "customer_id"}\n', "'data.orders.path' is required"),
    (MINIMAL + '[data.orders]\npath = "o.csv"\ncolumns = {a = 1}\n', "'data.orders.columns' must be table[str]"),
    (MINIMAL.replace("opportunities", "oportunities", 1), "unknown key 'data.oportunities'"),
    ('[data]\nopportunities = "opps.csv"\n', "must name the tables ['stage_events']"),
    (MINIMAL + '[capacity]\nreps = {acquisition = -1}\n', "'capacity.reps.acquisition' must be >= 0"),
    (MINIMAL + '[capacity]\nreps = {acquisition = 1.5}\n', "'capacity.reps' must be table[int]"),
    (MINIMAL + '[segments]\nabc = [0.95, 0.8]\n', "'segments.abc' must be two increasing shares"),
    (MINIMAL + '[forecast]\nhorizon = "3 months"\n', "forecast.horizon must be a pandas Timedelta"),
    (MINIMAL + '[plan]\ntarget_probability = 1.0\n', "'plan.target_probability' must be a probability strictly"),
    ('title = "x"\n' + MINIMAL, "unknown table [title]"),
    (MINIMAL + '[data.duckdb]\nmemory_limit = "1GB"\n', "[data.duckdb] sets DuckDB's connection, but 'data.engine'"),
    (MINIMAL.replace("[data]", '[data]\nengine = "duckdb"', 1) + '[data.duckdb]\nmemory = "1GB"\n',
     "unknown key 'data.duckdb.memory'"),
    (MINIMAL.replace("[data]", '[data]\nengine = "duckdb"', 1) + '[data.duckdb]\nthreads = "2"\n',
     "'data.duckdb.threads' must be int"),
])
def test_bad_config_names_file_and_key(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message


def test_invalid_toml_names_the_line(tmp_path):
    path = _write(tmp_path, '[report]\ntitle = "unterminated\n')
    with pytest.raises(ConfigError, match=r"report\.toml: not valid TOML: .*line 2"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_cannot_execute_code(tmp_path):
    """Strings are data: an import expression as a title stays a title; nothing is evaluated."""
    payload = "__import__('os').system('touch pwned')"
    cfg = load_config(_write(tmp_path, f'[report]\ntitle = "{payload}"\n' + MINIMAL))
    assert cfg.report.title == payload
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def _tables(tmp_path: Path, example_data) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    opps = example_data.opportunities.rename(columns={"opportunity_id": "Deal ID", "customer_id": "Account"})
    opps.to_csv(folder / "deals.csv", index=False)
    example_data.stage_events.to_csv(folder / "events.tsv", sep="\t", index=False)
    example_data.customers.to_excel(folder / "accounts.xlsx", sheet_name="Accounts", index=False)
    example_data.targets.to_csv(folder / "targets.csv", index=False)


CRM = """[report]
as_of = 2026-01-01
[data]
stage_events = "crm/events.tsv"
targets = "crm/targets.csv"
[data.opportunities]
path = "crm/deals.csv"
columns = { "Deal ID" = "opportunity_id", "Account" = "customer_id" }
[data.customers]
path = "crm/accounts.xlsx"
sheet = "Accounts"
"""


def test_load_data_maps_columns_and_reads_csv_tsv_xlsx(tmp_path, example_data):
    _tables(tmp_path, example_data)
    cfg = load_config(_write(tmp_path, CRM))
    data = load_data(cfg)
    assert len(data.opportunities) == len(example_data.opportunities)
    assert len(data.customers) == len(example_data.customers)
    assert data.as_of == pd.Timestamp("2026-01-01")
    assert data.status_counts().equals(example_data.status_counts())


def test_missing_data_file_names_the_key(tmp_path, example_data):
    _tables(tmp_path, example_data)
    cfg = load_config(_write(tmp_path, CRM.replace("crm/events.tsv", "crm/missing.csv")))
    with pytest.raises(ConfigError, match=r"'data\.stage_events\.path' names a file that does not exist"):
        load_data(cfg)


def test_mapping_of_an_absent_column_names_it(tmp_path, example_data):
    _tables(tmp_path, example_data)
    cfg = load_config(_write(tmp_path, CRM.replace('"Account" = "customer_id"', '"Acount" = "customer_id"')))
    with pytest.raises(ConfigError, match=r"'data\.opportunities\.columns' maps column\(s\) \['Acount'\]"):
        load_data(cfg)


def test_bad_rows_raise_schema_error_naming_column(tmp_path, example_data):
    _tables(tmp_path, example_data)
    events = pd.read_csv(tmp_path / "crm" / "events.tsv", sep="\t")
    events.loc[3, "entered_at"] = "not a date"
    events.to_csv(tmp_path / "crm" / "events.tsv", sep="\t", index=False)
    cfg = load_config(_write(tmp_path, CRM))
    with pytest.raises(SchemaError, match=r"stage_events\.entered_at \[date\]"):
        load_data(cfg)


def test_unsupported_file_type(tmp_path, example_data):
    _tables(tmp_path, example_data)
    (tmp_path / "crm" / "events.json").write_text("{}")
    cfg = load_config(_write(tmp_path, CRM.replace("crm/events.tsv", "crm/events.json")))
    with pytest.raises(ConfigError, match=r"'data.stage_events.path': .*events.json: unknown file type"):
        load_data(cfg)


def test_unknown_process_in_config_is_a_config_error(example_data):
    from salesplan.report import build_report, demo_config

    with pytest.raises(ConfigError, match=r"'report\.processes' names unknown process\(es\) \['upsell'\]"):
        build_report(example_data, demo_config(processes=("acquisition", "upsell")))


def test_process_file_is_read_and_missing_one_named(tmp_path, example_data):
    import salesplan as sp

    _tables(tmp_path, example_data)
    sp.save_processes(example_data.processes, tmp_path / "processes.toml")
    cfg = load_config(_write(tmp_path, CRM + '[processes]\nfile = "processes.toml"\n'))
    data = load_data(cfg)
    assert list(data.processes) == list(example_data.processes)
    assert data.processes["acquisition"].stages == example_data.processes["acquisition"].stages
    cfg = load_config(_write(tmp_path, CRM + '[processes]\nfile = "nope.toml"\n'))
    with pytest.raises(ConfigError, match=r"'processes\.file' names a file that does not exist"):
        load_data(cfg)


def test_forecast_categories_and_the_team_decide_which_calls_are_admitted(tmp_path, example_data):
    """``[data] forecast_categories`` sets the categories a call may name, ``[capacity] team`` (owner and manager)
    who may call besides the deal owners; a call outside them is an error naming the file, key, column and row."""
    folder = tmp_path / "crm"
    folder.mkdir()
    example_data.opportunities.to_csv(folder / "opps.csv", index=False)
    example_data.stage_events.to_csv(folder / "events.csv", index=False)
    calls = example_data.forecast_calls.head(3).copy()
    calls.loc[1, "category"] = "upside"
    calls.loc[2, "owner"] = "the boss"
    calls.to_csv(folder / "calls.csv", index=False)
    base = ('[data]\nopportunities = "crm/opps.csv"\nstage_events = "crm/events.csv"\n'
            'forecast_calls = "crm/calls.csv"\n')
    path = _write(tmp_path, base)
    with pytest.raises(SchemaError) as info:
        load_data(load_config(path))
    message = str(info.value)
    assert message.startswith(str(path))
    assert "forecast_calls.category [known_category]: 1 row(s), e.g. row 1 (upside" in message
    assert "'data.forecast_categories'" in message and "calls.csv" in message
    assert "forecast_calls.owner [known_owner]: 1 row(s), e.g. row 2 (the boss" in message
    # the configured list and a team with a manager admit both calls
    (tmp_path / "team.toml").write_text('[[team]]\nowner = "acq_rep1"\nprocesses = ["acquisition"]\n'
                                        'hours_per_week = 30\nmanager = "the boss"\n')
    ok = _write(tmp_path, base + 'forecast_categories = ["commit", "best_case", "upside"]\n'
                '[capacity]\nteam = "team.toml"\n')
    data = load_data(load_config(ok))
    assert data.forecast_calls["category"].tolist()[1] == "upside"
    assert data.forecast_calls["owner"].tolist()[2] == "the boss"
    for bad, expected in (('forecast_categories = "commit"\n', "'data.forecast_categories' must be a non-empty"),
                          ('[forecast]\nwin_model = "gut"\n', "'forecast.win_model' must be one of")):
        with pytest.raises(ConfigError, match=expected):
            load_config(_write(tmp_path, base + bad))
    cfg = load_config(_write(tmp_path, base + '[forecast]\nwin_model = "deal"\n'))
    assert cfg.settings().win_model == "deal" and demo_config().settings().win_model == "stage"


def test_the_forecast_section_names_the_win_model_of_the_config(tmp_path, example_data):
    """``[forecast] win_model`` reaches the forecast section's text: the reader sees which model set the open deals'
    chances. A cut of the example (its first 40 deals) keeps the section cheap; what the pieces then compute or
    warn does not matter here."""
    from salesplan.report.context import ReportContext
    from salesplan.report.sections import section_forecast

    ids = example_data.opportunities["opportunity_id"].head(40)
    example_data.opportunities.head(40).to_csv(tmp_path / "opps.csv", index=False)
    example_data.stage_events[example_data.stage_events["opportunity_id"].isin(ids)].to_csv(
        tmp_path / "events.csv", index=False)
    intros = {}
    for model in ("stage", "deal"):
        config = load_config(_write(tmp_path, MINIMAL + f'[forecast]\nwin_model = "{model}"\n'))
        intros[model] = section_forecast(ReportContext.create(load_data(config), config)).intro
    assert "Win model: stage rates (win_model = \"stage\")" in intros["stage"] and "per-deal" not in intros["stage"]
    assert "Win model: the per-deal model (win_model = \"deal\")" in intros["deal"]



def test_a_lazy_engine_with_the_per_deal_win_model_reads_the_past_as_pandas_does(tmp_path):
    """``[data] engine = "duckdb"`` with ``[forecast] win_model = "deal"`` is supported. What broke it (and every
    backtest of a report on DuckDB): the deals are DuckDB relations but the report reads the history in pandas,
    and cutting the data at a past date failed inside the engine join. Read through the config loader, the deals
    as known 200 days before the cut (what the per-deal model trains on) equal the pandas engine's. (The whole
    per-deal forecast on DuckDB, same deals and probabilities as on pandas, was checked once by a script: too slow
    for a test; see the issue's note.)"""
    from salesplan import Analysis
    from salesplan.datasets import simulate
    from salesplan.engines import collect
    from salesplan.forecast.evaluation import cut_data

    data, _ = simulate(n_customers=8, years=1.25, seed=3)
    tables = ("opportunities", "stage_events", "opportunity_history")
    for table in tables:
        getattr(data, table).to_parquet(tmp_path / f"{table}.parquet")
    past = {}
    for engine in ("pandas", "duckdb"):
        text = (f'[data]\nengine = "{engine}"\n' + "".join(f'{t} = "{t}.parquet"\n' for t in tables)
                + '[forecast]\nwin_model = "deal"\n')
        config = load_config(_write(tmp_path, text))
        analysis = Analysis(load_data(config), config.settings())
        assert analysis.settings.win_model == "deal"
        cut = cut_data(analysis.scoped, data.as_of - pd.Timedelta(days=200)).opportunities
        past[engine] = collect(cut).sort_values("opportunity_id").set_index("opportunity_id")
    assert type(analysis.data.opportunities).__name__ == "DuckDBPyRelation"
    today = data.opportunities.set_index("opportunity_id").loc[past["pandas"].index, "expected_close"]
    assert (past["pandas"]["expected_close"] != today).sum() > 5  # the history changes the past: the check can fail
    for col in ("amount", "expected_close", "owner"):
        pd.testing.assert_series_equal(past["duckdb"][col], past["pandas"][col], check_dtype=False)


def test_duckdb_settings_are_set_on_the_connection_the_tables_open_in(tmp_path):
    """[data.duckdb] bounds the batch report's DuckDB like the benchmark's own connection (issue 13); a value
    DuckDB refuses names the key."""
    import duckdb

    from salesplan.report.config import apply_duckdb_settings

    con = duckdb.default_connection() if callable(duckdb.default_connection) else duckdb.default_connection
    keys = ("memory_limit", "threads", "temp_directory", "allocator_background_threads")
    before = {k: con.execute(f"SELECT current_setting('{k}')").fetchone()[0] for k in keys}
    text = MINIMAL.replace("[data]", '[data]\nengine = "duckdb"', 1).replace(".csv", ".parquet") + (
        '[data.duckdb]\nmemory_limit = "1GB"\nthreads = 1\ntemp_directory = "spill"\n'
        'allocator_background_threads = true\n')
    cfg = load_config(_write(tmp_path, text))
    try:
        apply_duckdb_settings(cfg)
        got = {k: con.execute(f"SELECT current_setting('{k}')").fetchone()[0] for k in keys}
        assert got["memory_limit"] == "953.6 MiB"  # DuckDB's GB are 10^9 bytes
        assert got["threads"] == 1 and got["allocator_background_threads"] is True
        assert Path(got["temp_directory"]) == tmp_path / "spill"  # relative to the config file
        bad = load_config(_write(tmp_path, text.replace('"1GB"', '"lots"')))
        with pytest.raises(ConfigError, match="'data.duckdb.memory_limit' = 'lots': DuckDB refuses it"):
            apply_duckdb_settings(bad)
    finally:
        for key, value in before.items():
            con.execute(f"SET {key} = '{value}'" if isinstance(value, str) else f"SET {key} = {value}")
