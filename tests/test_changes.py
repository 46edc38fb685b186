"""Expected changes per edge: pair posteriors and Minin-Suchard expected jumps, against
counts where every state is known, marginals, numerical integration and Van Loan's
block exponential."""
import numpy as np
import pytest
from forests import forest, random_tree
from scipy import integrate, linalg

from phylohf.phylo import changes as ch
from phylohf.phylo import mk
from phylohf.phylo.asr import edge_expectations, marginal
from phylohf.phylo.changes import edge_changes, family_bootstrap, totals
from phylohf.phylo.mk import q_matrix

Q = q_matrix("ARD", [0.4, 0.1, 0.2, 0.3, 0.05, 0.25], 3)


def test_pairs_are_the_counts_when_every_state_is_known():
    rng = np.random.default_rng(0)
    parent = random_tree(300, rng)
    lin = forest(parent)
    states = rng.integers(0, 3, 300)
    e = edge_changes(lin, states, Q, np.where(parent >= 0, 1.0, np.nan))
    counts = np.zeros((3, 3))
    np.add.at(counts, (states[parent[1:]], states[1:]), 1)
    assert np.array_equal(e.nodes, np.arange(1, 300))
    assert np.allclose(e.pairs.sum(axis=0), counts)
    # the E step's pair counts of the EM (one class of edges) agree
    em = edge_expectations(lin, states, mk.transition_matrices(Q, 1.0)[None], np.zeros(300, np.int64),
                           np.full(3, 1 / 3))
    assert np.allclose(em.pairs[0], counts)


def test_pairs_sum_to_the_marginals_and_match_the_e_step():
    rng = np.random.default_rng(1)
    parent = random_tree(200, rng)
    lin = forest(parent)
    states = rng.integers(-1, 3, 200)
    states[rng.random(200) < 0.4] = -1
    lengths = np.where(parent >= 0, 1.0, np.nan)
    e = edge_changes(lin, states, Q, lengths)
    m = marginal(lin, states, Q, lengths)
    assert np.allclose(e.pairs.sum(axis=1), m.posterior[e.nodes])
    assert np.allclose(e.pairs.sum(axis=2), m.posterior[parent[e.nodes]])
    em = edge_expectations(lin, states, mk.transition_matrices(Q, 1.0)[None], np.zeros(200, np.int64),
                           np.full(3, 1 / 3))
    assert np.allclose(e.pairs.sum(axis=0), em.pairs[0])


def _quad_jumps(Q, t, up, down):
    """Expected a -> b jumps on one edge by numerical integration."""
    P = lambda s: linalg.expm(Q * s)                 # noqa: E731
    z = up @ P(t) @ down
    out = np.zeros_like(Q)
    for a in range(len(Q)):
        for b in range(len(Q)):
            if a != b:
                f = lambda s: (up @ P(s))[a] * (P(t - s) @ down)[b]     # noqa: E731
                out[a, b] = Q[a, b] * integrate.quad(f, 0, t, epsabs=1e-12)[0] / z
    return out


@pytest.mark.parametrize("defective", [False, True])
def test_expected_jumps_match_numerical_integration(defective, monkeypatch):
    """A cherry with one known tip, continuous lengths: each edge's jumps against quad."""
    if defective:
        monkeypatch.setattr(ch, "_eigen", lambda Q: None)         # the Van Loan route
    parent = np.array([-1, 0, 0, 1])
    lin = forest(parent)
    lengths = np.array([np.nan, 0.7, 1.9, 0.4])
    states = np.array([-1, -1, 2, 0])
    e = edge_changes(lin, states, Q, lengths)
    P = lambda t: linalg.expm(Q * t)                 # noqa: E731
    # edge 0 -> 2 (child known 2): outside = root prior x message of node 1's subtree
    down1 = P(0.4)[:, 0]
    up2 = np.full(3, 1 / 3) * (P(0.7) @ down1)
    got = dict(zip(e.nodes.tolist(), e.jumps))
    assert np.allclose(got[2], _quad_jumps(Q, 1.9, up2, np.eye(3)[2]), atol=1e-8)
    up1 = np.full(3, 1 / 3) * P(1.9)[:, 2]
    assert np.allclose(got[1], _quad_jumps(Q, 0.7, up1, down1), atol=1e-8)
    assert np.allclose(np.diagonal(e.jumps, axis1=1, axis2=2), 0)


def test_jumps_are_the_pair_changes_on_very_short_edges():
    """Both ends known and edges so short that more than one jump is negligible: the
    expected a -> b jumps are the a -> b pair counts."""
    rng = np.random.default_rng(2)
    parent = random_tree(400, rng)
    lin = forest(parent)
    states = rng.integers(0, 3, 400)
    e = edge_changes(lin, states, Q, np.where(parent >= 0, 1e-4, np.nan))
    off = 1 - np.eye(3)
    assert np.allclose(e.jumps.sum(axis=0), e.pairs.sum(axis=0) * off, rtol=1e-3)


def test_totals_and_family_bootstrap():
    values = np.arange(4 * 4, dtype=float).reshape(4, 2, 2)
    t = totals(values, np.array([0, 1, 0, 1]), 2)
    assert np.allclose(t[0], values[0] + values[2]) and np.allclose(t[1], values[1] + values[3])
    lo, hi = family_bootstrap(values, np.array([5, 5, 5, 5]), 20, 0)   # one family: no spread
    assert np.allclose(lo, values.sum(axis=0)) and np.allclose(hi, values.sum(axis=0))
    lo, hi = family_bootstrap(values, np.array([0, 1, 2, 3]), 200, 0)
    assert (lo <= values.sum(axis=0)).all() and (hi >= values.sum(axis=0)).all() and (hi > lo).all()
