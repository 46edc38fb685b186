"""The rate-model commands end to end on a simulated store: asr with the new models and
tests, changes, correlate (store traits, license-class, and a user tree with a pair table)."""
import json

import numpy as np
import pytest
from forests import simulated_store

from phylohf.api import load
from phylohf.cli import main
from phylohf.genealogy.licensing import classify
from phylohf.store.database import Store
from phylohf.genealogy.traits import categorical, character


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return str(simulated_store(tmp_path_factory.mktemp("rates"), 3000, seed=5, scenario="neutral"))


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_asr_gtr_by_relation_and_rate_classes(store, capsys):
    d = _json(capsys, ["asr", "--store", store, "--top", "3", "--starts", "1", "--model", "GTR",
                       "--by-relation", "--rate-classes", "2", "--json"])
    assert d["model"] == "GTR" and np.isclose(sum(d["pi"]), 1.0) and d["at_bound"] >= 0
    rel = d["by_relation"]
    assert set(rel["Q"]) == set(rel["relations"]) and len(rel["relations"]) >= 2
    (test,) = rel["lrt"].values()
    assert test["df"] == (len(rel["relations"]) - 1) * 9
    rc = d["rate_classes"]
    assert len(rc["scales"]) == 2 and rc["scales"][0] == 1.0 and np.isclose(sum(rc["weights"]), 1.0)
    assert all(np.isclose(sum(p), 1.0) for p in rc["parents"].values())
    assert main(["asr", "--store", store, "--top", "3", "--starts", "1", "--rate-classes", "2"]) == 0
    out = capsys.readouterr().out
    assert "Hidden rate classes of parents" in out and "LRT against one class" in out


def test_changes(store, capsys):
    d = _json(capsys, ["changes", "--store", store, "--top", "3", "--starts", "1", "--model", "SYM",
                       "--bootstrap", "50", "--json"])
    forest = d["changes"]["forest"]
    total, low, high = (np.array(forest["jumps"][x]) for x in ("total", "low", "high"))
    assert total.shape == (4, 4) and (low <= total + 1e-9).all() and (total <= high + 1e-9).all()
    assert np.allclose(np.diag(total), 0) and total.sum() > 0
    rel = d["changes"]["relations"]
    assert np.allclose(sum(np.array(r["jumps"]["total"]) for r in rel.values()), total)
    assert main(["changes", "--store", store, "--top", "3", "--starts", "1", "--bootstrap", "20"]) == 0
    assert "Expected jumps along the edges" in capsys.readouterr().out


def test_correlate_on_a_store_with_a_license_class(store, capsys):
    d = _json(capsys, ["correlate", "--store", store, "--trait", "library:gguf", "--with",
                       "license-class:permissive", "--starts", "1", "--json"])
    c = d["correlate"]
    assert c["lrt"]["dependent vs independent"]["df"] == 4
    assert c["dependent"]["loglik"] >= c["independent"]["loglik"] - 1e-3
    with Store(store, read_only=True) as s:
        lin, _, genome = load(s, with_genome=True)
    perm, names = character(genome, "license-class:permissive")
    lic, lic_names = categorical(genome, "license", top=10 ** 6)
    expect = np.array([classify(n) == "permissive" for n in lic_names])[np.maximum(lic, 0)]
    assert names == ["not permissive", "permissive"] and (perm >= 0).sum() > 0
    assert np.array_equal(perm, np.where(lic >= 0, expect, -1))
    assert main(["correlate", "--store", store, "--trait", "library:gguf", "--with", "license-class:nope"]) == 1
    assert "unknown license class 'nope'" in capsys.readouterr().err


def test_correlate_on_a_user_tree(tmp_path, capsys):
    (tmp_path / "t.nwk").write_text("((a:1,b:2)x:1,(c:1,d:0.5)y:2)r;")
    (tmp_path / "p.tsv").write_text("node\tgguf\tpermissive\na\t1\t1\nb\t1\t0\nc\t0\t0\nd\t0\tNA\nx\t1\t1\n")
    d = _json(capsys, ["correlate", "--tree", str(tmp_path / "t.nwk"), "--states", str(tmp_path / "p.tsv"),
                       "--starts", "1", "--json"])
    assert d["A"] == "gguf" and d["B"] == "permissive" and d["branch_lengths"] == "tree"
    assert main(["correlate", "--tree", str(tmp_path / "t.nwk")]) == 1
    assert main(["correlate"]) == 1
