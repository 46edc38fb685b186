"""License classes, the compatibility rules one by one, the audit over edges and its CLI."""
import json

import numpy as np
import pytest

from phylohf import api, cli
from forests import hub_record, store_of

from phylohf.genealogy.licensing import CLASSES, NAMES, RULES, TABLE, class_states, classify, entry, pair_rules, rule_for
from phylohf.analyses.licenses import audit, audit_genomes, impute
from phylohf.genealogy.lineage import Lineage
from phylohf.store.database import Store


def test_classes_of_hub_ids():
    assert classify("apache-2.0") == classify("MIT") == classify("bsd-3-clause") == "permissive"
    assert classify("cc-by-4.0") == "permissive" and classify("cc0-1.0") == classify("unlicense") == "public-domain"
    assert classify("gpl-3.0") == classify("agpl-3.0") == classify("cc-by-sa-4.0") == "copyleft"
    assert classify("cc-by-nc-4.0") == classify("cc-by-nc-sa-4.0") == "non-commercial"
    assert classify("llama2") == classify("llama3.1") == classify("gemma") == classify("openrail++") == "community"
    assert classify("creativeml-openrail-m") == classify("bigscience-openrail-m") == "community"
    for unknown in ("other", "unknown", "my-own-license", "", None):
        assert classify(unknown) == "other"
    assert all(c in CLASSES and source for c, _, _, source in TABLE.values())


def test_license_names_of_license_other():
    assert classify("other:mrl") == classify("other:exaone") == classify("OTHER:MNPL") == "non-commercial"
    assert classify("other:microsoft-research-license") == classify("other:qwen-research") == "non-commercial"
    assert classify("other:qwen") == classify("other:deepseek") == classify("other:yi-license") == "community"
    assert classify("other:llama4") == classify("llama4") and classify("other:apache-2.0") == "permissive"
    assert classify("other:non-commercial-license-dyna1") == "non-commercial"      # says so itself
    assert entry("other:non-commercial-license-dyna1")[3].startswith("the license's own name")
    for unnamed in ("other:darjyo", "other:", "mrl", "other:commercial"):
        assert classify(unnamed) == "other" and entry(unnamed) is None
    assert all(c in CLASSES and source for c, _, _, source in NAMES.values())
    assert not set(NAMES) & set(TABLE)                   # a Hub id is looked up in TABLE


def test_named_licenses_are_judged(tmp_path):
    # a Mistral Research License parent (license: other, license_name: mrl) and a child relicensed
    # to apache-2.0; a Llama 4 model named through license_name, with a child under the same terms
    recs = [hub_record("mistralai/base", "other"), hub_record("u/ft", "apache-2.0", "mistralai/base"),
            hub_record("meta/l4", "other"), hub_record("u/l4-ft", "llama4", "meta/l4"),
            hub_record("x/own", "other"), hub_record("u/own-ft", "mit", "x/own")]
    for r, name in zip(recs[::2], (" MRL ", "llama4", "darjyo")):
        r["cardData"]["license_name"] = name
    store = store_of(tmp_path, recs)
    with Store(store, read_only=True) as s:
        lineage, _, genome = api.load(s, with_genome=True)
    assert {"license:other:mrl", "license:other:llama4", "license:other:darjyo"} <= set(genome.names)
    a = audit_genomes(lineage, genome, impute_top=None)
    assert a.judged == 2                                 # x/own's license stays unclassified
    assert [(v["parent"], v["parent_license"], v["rule"], v["certain"]) for v in a.violations] == [
        ("mistralai/base", "other:mrl", "non-commercial-lifted", True)]


@pytest.mark.parametrize("parent, child, rule, certain", [
    ("cc-by-nd-4.0", "mit", "no-derivatives", True),
    ("cc-by-nc-nd-4.0", "cc-by-nc-4.0", "no-derivatives", True),
    ("cc-by-nc-4.0", "apache-2.0", "non-commercial-lifted", True),
    ("cc-by-nc-sa-4.0", "cc-by-sa-4.0", "non-commercial-lifted", True),
    ("cc-by-nc-4.0", "cc0-1.0", "non-commercial-lifted", True),
    ("cc-by-nc-4.0", "llama3", "non-commercial-to-community", False),
    ("cc-by-sa-4.0", "mit", "share-alike-dropped", True),
    ("gpl-3.0", "llama2", "share-alike-dropped", True),
    ("agpl-3.0", "cc-by-nc-4.0", "share-alike-dropped", True),
    ("lgpl-3.0", "apache-2.0", "weak-copyleft-dropped", False),
    ("gpl-3.0", "cc-by-sa-4.0", "share-alike-switched", False),
    ("llama2", "apache-2.0", "community-relicensed", True),
    ("gemma", "gpl-3.0", "community-relicensed", True),
    ("llama3.1", "cc0-1.0", "community-relicensed", True),
    ("openrail", "mit", "rail-relicensed", False),
    ("creativeml-openrail-m", "apache-2.0", "rail-relicensed", False),
    ("llama3", "gemma", "community-switched", False),
    ("llama3", "cc-by-nc-4.0", "community-switched", False),
    ("other:mrl", "mit", "non-commercial-lifted", True),
    ("other:exaone", "other:llama4", "non-commercial-to-community", False),
    ("other:deepseek", "apache-2.0", "rail-relicensed", False),
])
def test_each_rule(parent, child, rule, certain):
    r = rule_for(parent, child)
    assert r is not None and r.name == rule and r.certain == certain
    assert rule_for(parent.upper(), f" {child} ").name == rule          # case and spaces do not matter


@pytest.mark.parametrize("parent, child", [
    ("apache-2.0", "llama2"), ("mit", "cc-by-nc-4.0"), ("cc0-1.0", "gpl-3.0"), ("apache-2.0", "apache-2.0"),
    ("cc-by-nc-4.0", "cc-by-nc-sa-4.0"), ("gpl-2.0", "gpl-3.0"), ("llama3", "llama3.1"),
    ("openrail", "creativeml-openrail-m"), ("llama2", "other"), ("other", "mit"), ("unknown", "apache-2.0"),
    ("llama2", None), (None, "mit"), ("made-up", "apache-2.0"), ("llama4", "other:llama4"),
    ("other:darjyo", "mit"), ("other:mrl", "other:mnpl"),
])
def test_allowed_or_not_judged(parent, child):
    assert rule_for(parent, child) is None


def test_every_rule_is_reachable_and_the_matrix_agrees():
    names = sorted(TABLE) + ["other", "weird"]
    m = pair_rules(names)
    assert set(np.unique(m[m >= 0])) == set(range(len(RULES)))
    for i, j in [(names.index("llama2"), names.index("mit")), (names.index("mit"), names.index("llama2"))]:
        r = rule_for(names[i], names[j])
        assert m[i, j] == (-1 if r is None else [x.name for x in RULES].index(r.name))
    states = np.array([names.index("mit"), -1, names.index("weird"), names.index("gpl-3.0")])
    assert class_states(states, names).tolist() == [0, -1, CLASSES.index("other"), CLASSES.index("copyleft")]


def _hand_forest():
    """Family A: 0 (llama2) -> 1 (apache, finetune), 0 -> 2 (llama2, adapter), 1 -> 3 (gpl, finetune),
    3 -> 4 (mit, quantized), 0 -> 5 (undeclared). Family B: 6 (cc-by-nc) -> 7 (other), 6 -> 8 (mit, merge)
    with 1 as a second merge parent of 8 (apache -> mit: allowed)."""
    names = ["llama2", "apache-2.0", "gpl-3.0", "mit", "cc-by-nc-4.0", "other"]
    st = np.array([0, 1, 0, 2, 3, -1, 4, 5, 3])
    child = [1, 2, 3, 4, 5, 7, 8, 8]
    parent = [0, 0, 1, 3, 0, 6, 6, 1]
    pos = [1, 1, 1, 1, 1, 1, 1, 2]
    rel = [0, 1, 0, 2, 0, 0, 3, 3]
    n = 9
    lin = Lineage.from_edges(np.array([f"m{i}" for i in range(n)], object), np.ones(n, bool),
                             np.arange(n, dtype=np.int64), child, parent, pos, rel)
    return lin, st, names


def test_audit_by_hand():
    lin, st, names = _hand_forest()
    a = audit(lin, st, names)
    got = {(v["parent"], v["child"]): (v["rule"], v["relation"], v["certain"]) for v in a.violations}
    assert got == {("m0", "m1"): ("community-relicensed", "finetune", True),
                   ("m3", "m4"): ("share-alike-dropped", "quantized", True),
                   ("m6", "m8"): ("non-commercial-lifted", "merge", True)}
    assert a.edges == 8 and a.judged == 6          # not judged: 0->5 (undeclared), 6->7 (other)
    assert a.by_rule == {"non-commercial-lifted": {"violations": 1, "certain": 1},
                         "share-alike-dropped": {"violations": 1, "certain": 1},
                         "community-relicensed": {"violations": 1, "certain": 1}}
    assert a.by_relation["finetune"] == {"judged": 2, "violations": 1, "certain": 1}
    assert a.by_relation["merge"] == {"judged": 2, "violations": 1, "certain": 1}
    assert [(f["root"], f["violations"], f["judged_edges"]) for f in a.families] == [("m0", 2, 4), ("m6", 1, 2)]
    assert a.class_counts["(undeclared)"] == 1 and a.class_counts["permissive"] == 3
    j = a.to_dict()
    assert set(j["violations"][0]) == {"parent", "child", "relation", "parent_license", "child_license",
                                       "rule", "certain"}
    assert sum(r["violations"] for r in j["counts"]["by_rule"].values()) == len(j["violations"])
    scoped = audit(lin, st, names, lin.root == 6, "family m6")
    assert [(v["parent"], v["child"]) for v in scoped.violations] == [("m6", "m8")]
    assert "community-relicensed" in a.text()


def test_imputation_follows_the_family():
    # two families of 12: all apache-2.0 / all mit, one leaf undeclared in each
    parent = np.r_[-1, np.zeros(11, np.int64), -1, np.full(11, 12)]
    st = np.r_[np.zeros(12, np.int64), np.ones(12, np.int64)]
    st[[5, 20]] = -1
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    lin = Lineage.from_edges(np.array([f"m{i:02d}" for i in range(n)], object), np.ones(n, bool),
                             np.zeros(n, np.int64), child, parent[child], np.ones(len(child)), np.zeros(len(child)))
    imp = impute(lin, st, ["apache-2.0", "mit"])
    assert imp.nodes.tolist() == [5, 20] and imp.state.tolist() == [0, 1]
    assert (imp.probability > 0.8).all()


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from forests import simulated_store
    return simulated_store(tmp_path_factory.mktemp("lic"), 3000, seed=3)


def test_cli_json_layout_and_errors(small_store, capsys):
    assert cli.main(["audit-licenses", "--store", str(small_store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["violations"] and set(out["counts"]) == {"by_rule", "by_relation", "by_family"}
    for v in out["violations"]:
        r = rule_for(v["parent_license"], v["child_license"])
        assert r.name == v["rule"] and r.certain == v["certain"]
    assert all(0 < x["probability"] <= 1 for x in out["imputed"])
    assert cli.main(["audit-licenses", "--store", str(small_store), "--family", "no/such-model"]) == 1
    assert "no model" in capsys.readouterr().err
    assert cli.main(["audit-licenses", "--store", str(small_store), "--no-impute"]) == 0
    assert "License audit" in capsys.readouterr().out
