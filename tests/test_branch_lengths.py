"""Branch lengths: unit, days (floored, unknown dates) and Hamming genome distances."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from forests import hub_record, store_of

from phylohf.genealogy.branch_lengths import FLOOR_DAYS, branch_lengths
from phylohf.genealogy.genome import GROUPS, Genome
from phylohf.cli import main
from phylohf.genealogy.lineage import NO_DATE, Lineage

DAY = 86_400


def lineage(observed=(True, True, True, True)):
    # 0 -> 1 -> 2, 0 -> 3, and c (2) merges a (0) too
    return Lineage.from_edges(["a", "b", "c", "d"], np.array(observed), np.array([0, 3 * DAY, 2 * DAY, NO_DATE]),
                              [1, 2, 3, 2], [0, 1, 0, 0], [1, 1, 1, 2], [0, 0, 0, 3])


def test_unit():
    bl = branch_lengths(lineage(), "unit")
    assert np.isnan(bl.length[0]) and bl.length[1:].tolist() == [1, 1, 1] and not bl.unknown.any()
    assert bl.extra.tolist() == [1]


def test_days_floored_and_unknown():
    bl = branch_lengths(lineage(), "days")
    # b: 3 days; c predates b: floored; d: no date, the median of the known lengths (3, 0.5)
    assert bl.length[1:].tolist() == [3.0, FLOOR_DAYS, 1.75]
    assert bl.unknown.tolist() == [False, False, False, True]
    assert bl.floored == 1 and bl.fill == 1.75
    assert "1 edge(s) of a child created the same day as its parent or before it set to 0.5" in bl.describe()
    assert "1 edge(s) of unknown length set to the median known length, 1.75" in bl.describe()
    assert bl.extra.tolist() == [2.0]                      # a -> c directly


def test_days_same_day_child_is_floored_and_extra_edges_too():
    # a -> b the same second, a -> c a day later; c also merges b, created before it
    lin = Lineage.from_edges(["a", "b", "c"], np.ones(3, bool), np.array([DAY, DAY, 2 * DAY]),
                             [1, 2, 2], [0, 0, 1], [1, 1, 2], [0, 0, 3])
    bl = branch_lengths(lin, "days")
    assert bl.length[1:].tolist() == [FLOOR_DAYS, 1.0] and bl.extra.tolist() == [1.0]
    lin = Lineage.from_edges(["a", "b", "c"], np.ones(3, bool), np.array([DAY, 3 * DAY, 2 * DAY]),
                             [1, 2, 2], [0, 0, 1], [1, 1, 2], [0, 0, 3])
    bl = branch_lengths(lin, "days")
    assert bl.extra.tolist() == [FLOOR_DAYS] and bl.floored == 1 and not bl.unknown.any()


def test_hamming_against_sets():
    sets = [{0, 1}, {1, 2, 3}, {1, 2, 3}, set()]
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [c for s in sets for c in sorted(s)]
    m = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(4, 5))
    g = Genome(m, np.zeros(5, np.int64), np.array(list("vwxyz"), object), np.ones(5, np.int64),
               np.ones((4, len(GROUPS)), bool))
    bl = branch_lengths(lineage(observed=(True, True, True, False)), "hamming", g)
    known = [len(sets[1] ^ sets[0]), len(sets[2] ^ sets[1])]
    assert bl.length[1:].tolist() == [*known, np.median(known)]     # d: a placeholder's genome
    assert bl.extra.tolist() == [len(sets[2] ^ sets[0])]
    assert bl.unknown.tolist() == [False, False, False, True]    # d is a placeholder


def test_bad_kind():
    with pytest.raises(ValueError, match="expected one of unit, days, hamming"):
        branch_lengths(lineage(), "years")


def test_asr_in_days_on_same_day_children_is_finite(tmp_path, capsys):
    # every child created the same day as its parent, two of them relicensing: with zero-length
    # edges the likelihood was 0 (printed as -1e300); floored, the fit is finite
    records = [hub_record("base/A", "llama3"), hub_record("u1/ft", "apache-2.0", "base/A"),
               hub_record("u2/ft", "llama3", "base/A"), hub_record("u3/ft", "mit", "u1/ft"),
               hub_record("u4/ft", "other", "u2/ft")]
    records[4]["cardData"].pop("license")
    records[4]["tags"].remove("license:other")
    store = str(store_of(tmp_path, records))
    assert main(["asr", "--store", store, "--branch-lengths", "days", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert np.isfinite(data["loglik"]) and data["loglik"] < 0
    assert all(np.isfinite(p) for node in data["nodes"].values() for k, p in node.items() if k != "observed")
    assert main(["asr", "--store", store, "--branch-lengths", "days"]) == 0
    out = capsys.readouterr().out
    assert "4 edge(s) of a child created the same day as its parent or before it set to 0.5" in out
    assert "nan" not in out


def test_asr_refuses_a_zero_likelihood_tree(tmp_path, capsys):
    (tmp_path / "t.nwk").write_text("(a:0,b:1)r;")
    (tmp_path / "s.tsv").write_text("id\tlicense\na\tmit\nr\tapache\nb\tapache\n")
    assert main(["asr", "--tree", str(tmp_path / "t.nwk"), "--states", str(tmp_path / "s.tsv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("phylohf asr: error: the Mk likelihood is zero at every rate tried")
    assert "1 parent -> child edge(s) of length 0" in err and "Traceback" not in err
