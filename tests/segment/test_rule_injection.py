"""Assignment rules are data, never code: a catalogue of injection attempts, each refused with a ConfigError that
names the rule and the offending token, and nothing runs (a marker file a successful attempt would create stays
absent; pandas' query/eval are never called on user text)."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.expressions import Expression
from salesplan.segment.assign import DEFAULT_RULES, AssignmentRule, assign_processes, load_rules


def catalogue(marker: str) -> list[tuple[str, str]]:
    """(expression, token the error must name)."""
    cmd = f"touch {marker}"
    return [
        (f"@pd.io.common.os.system('{cmd}') == 0", "@pd"),
        (f"@os.system('{cmd}')", "@os"),
        ("p_alive.__class__.__mro__", "p_alive.__class__.__mro__"),
        ("p_alive.__class__", "p_alive.__class__"),
        (f"__import__('os').system('{cmd}')", "__import__('os').system"),
        ("__import__", "__import__"),
        ("__builtins__", "__builtins__"),
        (f"open('{marker}', 'w')", "open"),
        (f"exec('open(\"{marker}\", \"w\")')", "exec"),
        ("eval('1')", "eval"),
        ("getattr(p_alive, 'to_csv')", "getattr"),
        (f"p_alive.to_csv('{marker}')", "p_alive.to_csv"),
        ("p_alive.clip(lower=1)", "p_alive.clip"),
        ("clip(p_alive, lower=1)", "clip(p_alive, lower=1)"),
        ("p_alive[0]", "p_alive[0]"),
        ("[c for c in ().__class__.__bases__]", "[c for c in ().__class__.__bases__]"),
        ("(lambda: 1)()", "lambda: 1"),
        ("f'{p_alive}'", "f'{p_alive}'"),
        ("p_alive if has_orders else 0", "p_alive if has_orders else 0"),
        ("(x := 1)", "x := 1"),
        ("p_alive in annual_spend", "p_alive in annual_spend"),
        ("{'a': 1}", "{'a': 1}"),
        ("`p alive`.__dict__", "`p alive`.__dict__"),
        ("p_alive; import os", "p_alive; import os"),
        ("$p_alive", "$"),
        ("log", "log"),
    ]


def test_every_injection_is_refused_naming_rule_and_token_and_nothing_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    calls = []
    monkeypatch.setattr(pd.DataFrame, "query", lambda *a, **k: calls.append("query"))
    monkeypatch.setattr(pd.DataFrame, "eval", lambda *a, **k: calls.append("eval"))
    for text, token in catalogue(str(marker)):
        for field in ("when", "potential", "probability"):
            spec = {"process": "retention", "when": "p_alive < 0.5", "potential": "annual_spend", field: text}
            with pytest.raises(ConfigError) as info:
                AssignmentRule(**spec)
            message = str(info.value)
            assert f"assignment rule 'retention' ({field})" in message, message
            assert repr(token) in message or token in message, (token, message)
        toml = tmp_path / "rules.toml"
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        toml.write_text(f'[[rules]]\nprocess = "retention"\nwhen = "{escaped}"\npotential = "annual_spend"\n')
        with pytest.raises(ConfigError) as info:
            assign_processes(pd.DataFrame({"p_alive": [0.1], "annual_spend": [1.0], "has_orders": [True]}),
                             toml)
        assert "assignment rule #1" in str(info.value) and "retention" in str(info.value)
    assert not marker.exists()
    assert calls == []


def test_unknown_column_is_named_when_applied():
    rule = AssignmentRule("retention", when="p_alvie < 0.5", potential="annual_spend")
    with pytest.raises(ConfigError, match=r"assignment rule 'retention' \(when\): 'p_alvie' is not a column"):
        assign_processes(pd.DataFrame({"p_alive": [0.1], "annual_spend": [1.0]}), [rule])


def test_the_grammar_computes_what_pandas_query_did(monkeypatch):
    """The default rules on a hand-made table give the hand-computed assignment, without query/eval."""
    monkeypatch.setattr(pd.DataFrame, "query", lambda *a, **k: pytest.fail("query called"))
    monkeypatch.setattr(pd.DataFrame, "eval", lambda *a, **k: pytest.fail("eval called"))
    seg = pd.DataFrame({
        "has_orders": [True, True, True, True, False], "value_class": ["A", "B", "A", "C", None],
        "p_alive": [0.4, 0.75, 0.9, 0.9, float("nan")], "annual_spend": [1000.0, 400.0, 2000.0, 300.0, 0.0],
        "share_of_wallet": [0.8, 0.1, 0.9, 0.5, 0.0], "open_wallet": [250.0, 1170.0, 200.0, 300.0, 9000.0],
        "wallet": [1250.0, 1300.0, 2200.0, 600.0, 9000.0], "resemblance": [float("nan")] * 4 + [0.5],
        "typical_share": [0.3] * 5, "n_products": [2, 1, 4, 0, 0], "cross_sell_score": [0.0, 0.0, 0.0, 0.5, 0.0],
    }, index=pd.Index(list("abcdp"), name="customer_id"))
    got = assign_processes(seg, DEFAULT_RULES).set_index("customer_id")
    assert got["process"].to_dict() == {"a": "retention", "b": "delivery_rate", "c": "new_product",
                                        "d": "cross_selling", "p": "acquisition"}
    assert got.loc["a", "expected_value"] == pytest.approx(1000 * 0.6)
    # raising b's share from 0.1 to the typical 0.3 of a wallet of 1300, if b is alive: not the open wallet 1170
    assert got.loc["b", "expected_value"] == pytest.approx(1300 * (0.3 - 0.1) * 0.75)
    assert got.loc["c", "potential"] == pytest.approx(200.0)
    assert got.loc["d", "potential"] == pytest.approx(300.0)  # n_products 0 -> max(0, 1) = 1
    assert got.loc["d", "expected_value"] == pytest.approx(150.0)
    assert got.loc["p", "expected_value"] == pytest.approx(9000 * 0.3 * 0.5)


def test_rules_file_round_trip_and_grammar_features():
    rules = load_rules({"rules": [{"process": "retention", "when": "`annual spend` >= 100 and not (p_alive > 0.5)",
                                   "potential": "min(`annual spend`, 500) - abs(-1)", "probability": "1 - p_alive"}]})
    seg = pd.DataFrame({"annual spend": [50.0, 800.0, 300.0], "p_alive": [0.1, 0.2, 0.9]},
                       index=pd.Index(["x", "y", "z"], name="customer_id"))
    got = assign_processes(seg, rules)
    assert got["customer_id"].tolist() == ["y"]
    assert got["potential"].tolist() == [499.0] and got["expected_value"].tolist() == [pytest.approx(399.2)]
    assert Expression("2 ** 2 ** 10").evaluate(seg) == float("inf")  # numbers are floats: no huge integers
