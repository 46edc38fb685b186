"""Pagel's (1994) test of correlated evolution: the model matrices, the independent model as
the product of two 2-state chains, planted dependence detected, the pair table and the
license-class trait."""
import numpy as np
import pytest
from forests import forest, random_tree

from phylohf.phylo import mk
from phylohf.phylo.correlate import DEPENDENT, INDEPENDENT, correlate, pair_states, pair_table
from phylohf.phylo.mk import MkData, q_matrix, simulate_states


def test_models_change_one_character_at_a_time():
    for idx in (DEPENDENT, INDEPENDENT):
        for i in range(4):
            for j in range(4):
                flips = bin(i ^ j).count("1")
                assert (idx[i, j] > 0) == (flips == 1)
    assert sorted(np.unique(DEPENDENT[DEPENDENT > 0])) == list(range(1, 9))
    assert sorted(np.unique(INDEPENDENT[INDEPENDENT > 0])) == [1, 2, 3, 4]


def test_independent_model_is_the_product_of_two_chains():
    """P(t) of the independent 4-state chain is the Kronecker product of A's and B's."""
    a01, a10, b01, b10 = 0.3, 0.7, 0.2, 0.5
    Q = q_matrix(INDEPENDENT, [a01, a10, b01, b10], 4)
    qa = np.array([[-a01, a01], [a10, -a10]])
    qb = np.array([[-b01, b01], [b10, -b10]])
    t = 1.3
    assert np.allclose(mk.transition_matrices(Q, t),
                       np.kron(mk.transition_matrices(qa, t), mk.transition_matrices(qb, t)))
    # so, with both characters known everywhere, the log-likelihood is the sum of the two
    rng = np.random.default_rng(0)
    parent = random_tree(100, rng)
    lin = forest(parent)
    lengths = np.where(parent >= 0, t, np.nan)
    s = simulate_states(lin, Q, np.nan_to_num(lengths), np.full(4, 0.25), rng)
    ll = MkData(lin, s, lengths, k=4).loglik(Q)
    la = MkData(lin, s // 2, lengths, k=2).loglik(qa)
    lb = MkData(lin, s % 2, lengths, k=2).loglik(qb)
    assert ll == pytest.approx(la + lb, abs=1e-9)


def test_pair_states():
    assert pair_states([0, 1, 1, -1, 0], [1, 0, 1, 0, -1]).tolist() == [1, 2, 3, -1, -1]
    with pytest.raises(ValueError):
        pair_states([2], [0])


def test_planted_dependence_is_detected_and_independence_is_not():
    rng = np.random.default_rng(3)
    n = 3000
    lin = forest(random_tree(n, rng))
    lengths = np.r_[np.nan, np.ones(n - 1)]
    # B is gained fast only when A is present
    dep = q_matrix(DEPENDENT, [0.02, 0.2, 0.3, 0.2, 0.2, 0.6, 0.2, 0.05], 4)
    s = simulate_states(lin, dep, np.ones(n), np.full(4, 0.25), rng)
    c = correlate(lin, s // 2, s % 2, lengths, starts=1)
    assert c.test["df"] == 4 and c.test["p"] < 1e-6
    assert c.dependent.loglik >= c.independent.loglik
    rates = c.conditional()
    assert rates["B 0->1"]["other 1"] > 5 * rates["B 0->1"]["other 0"]
    ind = q_matrix(INDEPENDENT, [0.2, 0.3, 0.1, 0.25], 4)
    s = simulate_states(lin, ind, np.ones(n), np.full(4, 0.25), rng)
    c = correlate(lin, s // 2, s % 2, lengths, starts=1, bootstrap=9)
    assert c.test["p"] > 0.01 and 0.1 <= c.test["bootstrap_p"] <= 1
    js = c.to_json()
    assert set(js) >= {"independent", "dependent", "lrt"} and len(js["dependent"]["Q"]) == 4


def test_pair_table(tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text("node\tA\tB\nx\t0\t1\ny\t1\tNA\nz\t?\t0\n")
    a, b, names = pair_table(f, np.array(["x", "y", "z", "w"], object))
    assert a.tolist() == [0, 1, -1, -1] and b.tolist() == [1, -1, 0, -1] and names == ["A", "B"]
    f.write_text("node\tA\tB\nx\t2\t1\n")
    with pytest.raises(ValueError, match="states must be 0, 1"):
        pair_table(f, np.array(["x"], object))
