"""Branch lengths: unit, days (clamped, unknown dates) and Hamming genome distances."""
import numpy as np
import pytest
import scipy.sparse as sp

from phylohf.branch_lengths import branch_lengths
from phylohf.genome import GROUPS, Genome
from phylohf.lineage import NO_DATE, Lineage

DAY = 86_400


def lineage(observed=(True, True, True, True)):
    # 0 -> 1 -> 2, 0 -> 3, and c (2) merges a (0) too
    return Lineage.from_edges(["a", "b", "c", "d"], np.array(observed), np.array([0, 3 * DAY, 2 * DAY, NO_DATE]),
                              [1, 2, 3, 2], [0, 1, 0, 0], [1, 1, 1, 2], [0, 0, 0, 3])


def test_unit():
    bl = branch_lengths(lineage(), "unit")
    assert np.isnan(bl.length[0]) and bl.length[1:].tolist() == [1, 1, 1] and not bl.unknown.any()
    assert bl.extra.tolist() == [1]


def test_days_clamped_and_unknown():
    bl = branch_lengths(lineage(), "days")
    assert bl.length[1:].tolist() == [3.0, 0.0, 0.0]      # c predates b: clamped; d: no date
    assert bl.unknown.tolist() == [False, False, False, True]
    assert "1 edge(s) of unknown length" in bl.describe()
    assert bl.extra.tolist() == [2.0]                      # a -> c directly


def test_hamming_against_sets():
    sets = [{0, 1}, {1, 2, 3}, {1, 2, 3}, set()]
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [c for s in sets for c in sorted(s)]
    m = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(4, 5))
    g = Genome(m, np.zeros(5, np.int64), np.array(list("vwxyz"), object), np.ones(5, np.int64),
               np.ones((4, len(GROUPS)), bool))
    bl = branch_lengths(lineage(observed=(True, True, True, False)), "hamming", g)
    assert bl.length[1:].tolist() == [len(sets[1] ^ sets[0]), len(sets[2] ^ sets[1]), 0.0]
    assert bl.extra.tolist() == [len(sets[2] ^ sets[0])]
    assert bl.unknown.tolist() == [False, False, False, True]    # d is a placeholder


def test_bad_kind():
    with pytest.raises(ValueError, match="expected one of unit, days, hamming"):
        branch_lengths(lineage(), "years")
