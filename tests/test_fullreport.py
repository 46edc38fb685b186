"""The full report: its structure, its numbers on a hand-built ecosystem, the planted effects of
a directional simulation and no false alarms on a neutral one, figures, CLI and demo."""
import json

import pytest
from forests import hub_record, simulated_store, store_of

from phylohf.api import load
from phylohf.cli import main
from phylohf.report.full import TITLES, Settings, build
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store.database import Store

FAST = Settings(seed=3, bootstrap=100, null=19)


#   base/A (llama3) ─┬─ u1/ft (apache-2.0: relicensed) ── u3/q (apache-2.0, quantized)
#                    └─ u2/ft (llama3)
#   base/B (cc-by-nc-4.0) ── u4/ft (mit: non-commercial lifted)        lone/C (mit)
HAND = [hub_record("base/A", "llama3", languages=("en", "fr")), hub_record("u1/ft", "apache-2.0", "base/A"),
        hub_record("u2/ft", "llama3", "base/A"), hub_record("u3/q", "apache-2.0", "u1/ft", "quantized"),
        hub_record("base/B", "cc-by-nc-4.0"), hub_record("u4/ft", "mit", "base/B"), hub_record("lone/C", "mit")]


def _report(tmp_path, records=None, n=None, scenario="directional", seed=7, settings=FAST):
    if records is not None:
        path = store_of(tmp_path, records)
    else:
        path = simulated_store(tmp_path, n, seed, scenario)
    with Store(path, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        return build(store, lineage, fams, genome, settings)


def test_hand_built_ecosystem_numbers(tmp_path):
    r = _report(tmp_path, HAND)
    d = r.data
    assert d["data"]["models"] == 7 and d["data"]["placeholders"] == 0 and d["data"]["families"] == 3
    assert d["anatomy"]["families"] == 3 and d["anatomy"]["singletons"] == 1
    assert d["anatomy"]["hubs"][0] == {"model": "base/A", "children": 2, "family": "base/A",
                                       "relations": {"finetune": 2}}
    # four edges, all licenses known: llama3->apache, llama3->llama3, apache->apache, cc-by-nc->mit
    assert sum(map(sum, d["transitions"]["counts"])) == 4
    assert {(v["parent"], v["child"], v["rule"], v["certain"]) for v in d["audit"]["violations"]} == {
        ("base/A", "u1/ft", "community-relicensed", True), ("base/B", "u4/ft", "non-commercial-lifted", True)}
    lic = d["kinship"]["groups"]["license"]["classes"]
    assert lic["parent_child"]["n"] == 4 and lic["parent_child"]["mean"] == pytest.approx(0.5)
    assert lic["siblings"]["n"] == 1 and lic["siblings"]["mean"] == 0.0           # u1 and u2 differ
    assert lic["grandparent"]["n"] == 1 and lic["grandparent"]["mean"] == 0.0     # base/A and u3
    assert d["kinship"]["groups"]["license"]["sib_minus_pc"]["diff"] == pytest.approx(-0.5)
    text = r.text()
    assert "2 of 4 judged edges carry a child license that cannot lawfully follow" in text
    assert "models:          7 observed, 0 placeholders" in text


def test_sections_in_order_each_with_its_meaning(tmp_path):
    r = _report(tmp_path, n=3000, seed=5)
    text = r.text()
    starts = [text.index(f"{i}. {t}\n") for i, t in enumerate(TITLES, 1)]
    assert starts == sorted(starts)
    for i, (start, end) in enumerate(zip(starts, starts[1:] + [len(text)])):
        assert "What it means:" in text[start:end], TITLES[i]
    data = r.to_dict()
    assert data["sections"] == list(TITLES)
    assert {"data", "anatomy", "kinship", "transitions", "audit", "drift", "asr"} <= set(data)
    json.dumps(data, default=float)                                             # serialisable


@pytest.fixture(scope="module")
def directed(tmp_path_factory):
    # 59 replicates: a p-value's floor 1/60 leaves q < 0.05 reachable across the report's claims
    return _report(tmp_path_factory.mktemp("directed"), n=20_000, seed=7, settings=Settings(seed=3, bootstrap=100,
                                                                                           null=59))


def _supported(report) -> set[str]:
    return {c["id"] for c in report.to_dict()["claims"] if c["supported"]}


def test_planted_effects_are_recovered(directed):
    claims = directed.to_dict()["claims"]
    assert len({c["id"] for c in claims}) == len(claims)
    for c in claims:
        assert set(c) >= {"id", "section", "statement", "statistic", "p", "q", "null", "replicates", "supported"}
        assert c["supported"] == (c["q"] < 0.05 and c["effect"] > 0)
    assert {"license_drift:restrictive_to_open", "language_drift:fewer_languages",
            "card_drift:dropped", "ard_vs_gtr:license", "sibling_excess:license",
            "shared_change:task"} <= _supported(directed)
    d = directed.data
    near = d["asr"]["mask_check"]["scores"]["with a visible relative"]
    assert near["Mk marginal"]["accuracy"] > near["copy parent"]["accuracy"]
    text = directed.text()
    for c in claims:                       # "What it means" states exactly the supported claims
        assert (c["statement"] in text) == c["supported"] or c["id"] in text


def test_neutral_scenario_raises_no_false_alarm(tmp_path):
    r = _report(tmp_path, n=20_000, scenario="neutral", seed=7)
    assert not {c for c in _supported(r) if not c.startswith("family_resemblance:")}


def test_figures_and_cli(tmp_path, capsys, directed):
    pytest.importorskip("matplotlib")
    path = tmp_path / "src.parquet"
    write_listing(simulate(3000, seed=2), path)
    assert main(["ingest", str(path), "--store", str(tmp_path / "s.duckdb")]) == 0
    assert main(["-q", "report", "--store", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "r.txt"),
                 "--json", str(tmp_path / "r.json"), "--figures", str(tmp_path / "figs"),
                 "--bootstrap", "50", "--null", "9"]) == 0
    text = (tmp_path / "r.txt").read_text()
    assert text.startswith("phylohf report") and "7. Ancestral reconstruction and imputation" in text
    assert json.loads((tmp_path / "r.json").read_text())["sections"] == list(TITLES)
    for name in ("family.png", "kinship.png", "transitions.png", "drift.png"):
        assert (tmp_path / "figs" / name).stat().st_size > 10_000, name
    assert main(["report", "--store", str(tmp_path / "missing.duckdb")]) == 1


def test_a_store_without_licenses(tmp_path, capsys):
    records = [hub_record(*r) for r in (("a/base", "x"), ("b/ft", "x", "a/base"), ("c/ft", "x", "a/base"))]
    for r in records:
        del r["cardData"]["license"]
        r["tags"].remove("license:x")
    store = str(store_of(tmp_path, records))
    assert main(["transitions", "--store", store, "--trait", "license"]) == 1
    assert capsys.readouterr().err == ("phylohf transitions: error: no model in all families declares license: "
                                       "there is nothing to analyse (pick another --trait, or a store whose "
                                       "models declare it)\n")
    assert main(["asr", "--store", store]) == 1
    assert "no model in all families declares license" in capsys.readouterr().err
    r = _report(tmp_path, records)
    assert r.data["transitions"]["skipped"] == r.data["asr"]["skipped"] == "too few licenses"
    assert "Declared license ids: none; this analysis needs at least 2." in r.text()
    assert r.data["audit"]["judged"] == 0 and r.data["audit"]["imputed"] == []
