"""The Mk model: closed forms, brute-force sums over unknown states, rerooting, simulation."""
import itertools

import numpy as np
import pytest
from scipy import linalg

from forests import forest, random_tree
from phylohf.phylo.mk import (MkData, _sum_rows, _sums_into, fit_mk, index_matrix, log_likelihood, lrt, n_params,
                              q_matrix, rowmax, rowsum, simulate_states, stationary, transition_matrices)


def unit(parent) -> np.ndarray:
    return np.where(np.asarray(parent) >= 0, 1.0, np.nan)


def brute_force(parent, states, Q, lengths, prior) -> float:
    """log of the sum over all assignments of the unknown states (one tree)."""
    k, n = len(Q), len(parent)
    P = {v: linalg.expm(Q * lengths[v]) for v in range(n) if parent[v] >= 0}
    free = [v for v in range(n) if states[v] < 0]
    total = 0.0
    for combo in itertools.product(range(k), repeat=len(free)):
        s = np.array(states)
        s[free] = combo
        root = parent.index(-1)
        term = prior[s[root]]
        for v in range(n):
            if parent[v] >= 0:
                term *= P[v][s[parent[v]], s[v]]
        total += term
    return float(np.log(total))


# -- rate matrices and P(t) ----------------------------------------------------------------
def test_rate_matrices():
    assert [n_params(m, 4) for m in ("ER", "SYM", "ARD")] == [1, 6, 12]
    sym = q_matrix("SYM", [1, 2, 3], 3)
    assert np.allclose(sym, sym.T) and np.allclose(sym.sum(axis=1), 0)
    assert sym[0, 1] == 1 and sym[0, 2] == 2 and sym[1, 2] == 3
    ard = q_matrix("ARD", [1, 2, 3, 4, 5, 6], 3)
    assert ard[0, 1] == 1 and ard[0, 2] == 2 and ard[1, 0] == 3 and ard[2, 1] == 6
    user = [[0, 1, 0], [2, 0, 1], [0, 2, 0]]          # a birth-death-like ladder
    q = q_matrix(user, [0.5, 2.0], 3)
    assert q.tolist() == [[-0.5, 0.5, 0], [2, -2.5, 0.5], [0, 2, -2]]
    with pytest.raises(ValueError):
        q_matrix("ER", [1, 2], 3)
    with pytest.raises(ValueError):
        index_matrix([[1, 1], [1, 0]], 2)                 # a rate on the diagonal
    with pytest.raises(ValueError):
        index_matrix([[0, 2], [2, 0]], 2)                 # rate 1 never used


def test_two_state_closed_forms():
    t = np.array([0.0, 0.1, 0.7, 0.7, 3.0])
    q = 0.8
    P = transition_matrices(q_matrix("ER", [q], 2), t)
    same = 0.5 + 0.5 * np.exp(-2 * q * t)
    assert np.allclose(P[:, 0, 0], same) and np.allclose(P[:, 1, 0], 1 - same)
    a, b = 0.3, 1.7                                       # 0 -> 1 at a, 1 -> 0 at b
    P = transition_matrices(q_matrix("ARD", [a, b], 2), t)
    e = np.exp(-(a + b) * t)
    assert np.allclose(P[:, 0, 0], (b + a * e) / (a + b))
    assert np.allclose(P[:, 0, 1], a * (1 - e) / (a + b))
    assert np.allclose(P[:, 1, 0], b * (1 - e) / (a + b))
    assert np.allclose(P[:, 1, 1], (a + b * e) / (a + b))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_row_reductions_match_numpy(k):
    """rowmax / rowsum over the last axis, as numpy's, with -inf and NaN rows, and a fresh array
    (never a view of the input) even for one state."""
    a = np.random.default_rng(k).normal(size=(7, 5, k))
    a[0, 0] = -np.inf
    a[1, 2, 0] = np.nan
    assert np.array_equal(rowmax(a), a.max(axis=-1), equal_nan=True)
    assert np.allclose(rowsum(a), a.sum(axis=-1), rtol=1e-14, atol=0, equal_nan=True)
    m = rowmax(a)
    m[...] = 0.0
    assert not (a == 0.0).any()


def test_defective_q_falls_back_to_expm():
    Q = np.array([[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]])   # a Jordan block
    t = np.array([0.5, 2.0])
    P = transition_matrices(Q, t)
    assert np.allclose(P, [linalg.expm(Q * x) for x in t], atol=1e-12)
    assert np.allclose(stationary(Q), [0, 0, 1])


# -- likelihood on small trees, by hand ----------------------------------------------------
def test_two_tips_by_hand():
    parent, lengths = [-1, 0, 0], np.array([np.nan, 0.4, 1.3])
    Q = q_matrix("ARD", [0.3, 1.1], 2)
    P1, P2 = linalg.expm(Q * 0.4), linalg.expm(Q * 1.3)
    expect = np.log(0.5 * P1[0, 0] * P2[0, 1] + 0.5 * P1[1, 0] * P2[1, 1])
    got = log_likelihood(forest(parent), [-1, 0, 1], Q, lengths)
    assert got == pytest.approx(expect, abs=1e-12)


@pytest.mark.parametrize("root_prior", ["equal", "stationary", "fitzjohn"])
def test_cherry_and_outgroup_by_hand(root_prior):
    #        0            lengths above: 1: 0.5, 2: 1.2, 3: 0.3, 4: 0.9
    #      /   \
    #     1     2
    #    / \
    #   3   4
    parent, lengths = [-1, 0, 0, 1, 1], np.array([np.nan, 0.5, 1.2, 0.3, 0.9])
    Q = q_matrix("ARD", [0.2, 0.5, 0.9, 0.4, 0.3, 0.7], 3)
    P = {v: linalg.expm(Q * lengths[v]) for v in (1, 2, 3, 4)}
    s2, s3, s4 = 2, 0, 1

    def root_cond(x1=None):
        xs = range(3) if x1 is None else [x1]
        return np.array([P[2][r, s2] * sum(P[1][r, x] * P[3][x, s3] * P[4][x, s4] for x in xs)
                         for r in range(3)])

    def total(cond):
        prior = {"equal": np.full(3, 1 / 3), "stationary": stationary(Q),
                 "fitzjohn": cond / cond.sum()}[root_prior]
        return np.log(prior @ cond)

    lin = forest(parent)
    assert log_likelihood(lin, [-1, -1, s2, s3, s4], Q, lengths, root_prior) == \
        pytest.approx(total(root_cond()), abs=1e-12)
    # a KNOWN internal state (node 1 observed in state 2) clamps the sum over x
    assert log_likelihood(lin, [-1, 2, s2, s3, s4], Q, lengths, root_prior) == \
        pytest.approx(total(root_cond(2)), abs=1e-12)
    # a known root: every prior weighs the one state (fitzjohn's weight is then 1)
    w = {"equal": 1 / 3, "stationary": stationary(Q)[1], "fitzjohn": 1.0}[root_prior]
    assert log_likelihood(lin, [1, -1, s2, s3, s4], Q, lengths, root_prior) == \
        pytest.approx(np.log(w * root_cond()[1]), abs=1e-12)


def test_brute_force_with_mixed_known_internal_nodes():
    rng = np.random.default_rng(3)
    parent = [-1, 0, 0, 1, 1, 2, 2, 3, 5, 5]
    lengths = np.r_[np.nan, rng.uniform(0.1, 2.0, 9)]
    lengths[4] = 0.0                                       # a zero-length edge (P = I)
    Q = q_matrix("ARD", rng.uniform(0.1, 1.0, 6), 3)
    states = [-1, 2, -1, 0, 2, -1, 1, -1, 0, 2]            # internal 1 known, tip 7 unknown
    expect = brute_force(parent, states, Q, lengths, np.full(3, 1 / 3))
    assert log_likelihood(forest(parent), states, Q, lengths) == pytest.approx(expect, abs=1e-12)


def test_impossible_data_give_minus_infinity():
    # a zero-length edge cannot change state
    ll = log_likelihood(forest([-1, 0]), [0, 1], q_matrix("ER", [1.0], 2), np.array([np.nan, 0.0]))
    assert ll == -np.inf


def test_reversible_model_is_root_invariant_with_stationary_prior():
    # unrooted tree 0-1 (0.3), 0-2 (0.5), 1-3 (0.7), 1-4 (0.2); states at every node but 0, 1
    Q = q_matrix("SYM", [0.4, 1.3, 0.6], 3)
    states = np.array([-1, -1, 2, 0, 1])
    rooted_at_0 = log_likelihood(forest([-1, 0, 0, 1, 1]), states, Q,
                                 np.array([np.nan, 0.3, 0.5, 0.7, 0.2]), "stationary")
    # rooted at tip 3: 3 -> 1 (0.7), 1 -> 0 (0.3), 1 -> 4 (0.2), 0 -> 2 (0.5)
    rooted_at_3 = log_likelihood(forest([1, 3, 0, -1, 1]), states, Q,
                                 np.array([0.3, 0.7, 0.5, np.nan, 0.2]), "stationary")
    assert rooted_at_3 == pytest.approx(rooted_at_0, abs=1e-12)
    # an ARD model is not reversible: the root matters
    A = q_matrix("ARD", [0.1, 2.0, 0.3, 0.2, 1.5, 0.4], 3)
    assert log_likelihood(forest([-1, 0, 0, 1, 1]), states, A,
                          np.array([np.nan, 0.3, 0.5, 0.7, 0.2]), "stationary") != \
        pytest.approx(log_likelihood(forest([1, 3, 0, -1, 1]), states, A,
                                     np.array([0.3, 0.7, 0.5, np.nan, 0.2]), "stationary"))


def test_all_unknown_is_zero_and_forest_is_the_sum_of_families():
    rng = np.random.default_rng(5)
    Q = q_matrix("ARD", rng.uniform(0.1, 1.0, 12), 4)
    a, b = random_tree(300, rng), random_tree(200, rng)
    both = np.r_[a, np.where(b >= 0, b + 300, -1)]
    for prior in ("equal", "stationary", "fitzjohn"):
        assert log_likelihood(forest(both), np.full(500, -1), Q, unit(both), prior) == 0.0
    sa, sb = rng.integers(-1, 4, 300), rng.integers(-1, 4, 200)
    la, lb = unit(a) * rng.uniform(0.1, 3, 300), unit(b) * rng.uniform(0.1, 3, 200)
    for prior in ("equal", "stationary", "fitzjohn"):
        whole = log_likelihood(forest(both), np.r_[sa, sb], Q, np.r_[la, lb], prior)
        parts = (log_likelihood(forest(a), sa, Q, la, prior)
                 + log_likelihood(forest(b), sb, Q, lb, prior))
        assert whole == pytest.approx(parts, rel=1e-12)


@pytest.mark.parametrize("rows", [5, 600, 5_000, 70_000])
def test_sums_into_parents_match_add_at(rows):
    """Each way of summing rows into their sorted parents (one row each, reduceat, bincount,
    sparse product, by size) gives np.add.at's sums."""
    rng = np.random.default_rng(rows)
    for par in (np.arange(rows), np.sort(rng.integers(0, max(rows // 3, 1), rows))):
        x = rng.normal(size=(rows, 3))
        x[0, 1] = -np.inf
        parents, reduce = _sums_into(par)
        expect = np.zeros((rows, 3))
        np.add.at(expect, par, x)
        assert np.array_equal(parents, np.unique(par))
        assert np.allclose(_sum_rows(reduce, x), expect[parents], rtol=1e-13, atol=1e-12)


def test_big_star_matches_closed_form():
    # a root with 20,000 known children: the sum crosses the bincount path
    rng = np.random.default_rng(2)
    n = 20_001
    parent = np.r_[-1, np.zeros(n - 1, np.int64)]
    states = np.r_[-1, rng.integers(0, 3, n - 1)]
    Q = q_matrix("ARD", rng.uniform(0.1, 1.0, 6), 3)
    logP = np.log(linalg.expm(Q))
    counts = np.bincount(states[1:], minlength=3)
    per_root = logP @ counts
    expect = per_root.max() + np.log(np.exp(per_root - per_root.max()).sum() / 3)
    got = log_likelihood(forest(parent), states, Q, unit(parent))
    assert got == pytest.approx(expect, rel=1e-12)


def test_deep_chain_runs():
    n = 100_000
    parent = np.arange(-1, n - 1)
    lin, Q = forest(parent), q_matrix("ER", [5e-4], 2)
    states = np.full(n, -1)
    states[-1] = 1
    # one known node at the bottom of an unknown chain: likelihood 1/2 under the equal prior
    assert log_likelihood(lin, states, Q, unit(parent)) == pytest.approx(np.log(0.5))
    # known every 1000 generations: 99 ER segments of 1000 steps that end where they began,
    # one of 999 steps that ends in the other state, and the 1/2 of the root
    states[::1000] = 0
    same = 0.5 + 0.5 * np.exp(-2 * 5e-4 * np.array([1000, 999]))
    expect = np.log(0.5) + 99 * np.log(same[0]) + np.log(1 - same[1])  # the last ends in 1
    assert log_likelihood(lin, states, Q, unit(parent)) == pytest.approx(expect, rel=1e-9)


# -- simulation and fitting ----------------------------------------------------------------
def test_simulation_matches_transition_probabilities():
    rng = np.random.default_rng(11)
    parent = np.r_[-1, np.zeros(40_000, np.int64)]
    Q = q_matrix("ARD", [0.2, 0.6, 0.3, 0.1, 0.5, 0.4], 3)
    states = simulate_states(forest(parent), Q, unit(parent) * 0.8, 1, rng)
    freq = np.bincount(states[1:], minlength=3) / 40_000
    assert states[0] == 1 and np.allclose(freq, linalg.expm(Q * 0.8)[1], atol=0.01)


def test_fit_recovers_ard_rates():
    rng = np.random.default_rng(7)
    parent = random_tree(4000, rng)
    lin = forest(parent)
    true = np.array([0.15, 0.05, 0.1, 0.3, 0.2, 0.1])
    Q = q_matrix("ARD", true, 3)
    states = simulate_states(lin, Q, unit(parent), stationary(Q), rng)
    states[rng.random(4000) < 0.3] = -1
    fit = fit_mk(lin, states, unit(parent), "ARD", seed=1)
    assert fit.k == 3 and fit.n_params == 6
    assert np.allclose(fit.rates, true, rtol=0.35), fit.rates
    assert fit.loglik >= MkData(lin, states, unit(parent)).loglik(Q)      # ML beats the truth
    assert fit.aic == pytest.approx(2 * 6 - 2 * fit.loglik)
    er = fit_mk(lin, states, unit(parent), "ER")
    stat, df, p = lrt(er, fit)
    assert df == 5 and p < 1e-6                            # a very unequal Q is detected


def test_er_versus_ard_lrt_rarely_rejects_under_er():
    rng = np.random.default_rng(13)
    rejections = 0
    for _ in range(20):
        parent = random_tree(400, rng)
        lin, lengths = forest(parent), unit(parent)
        states = simulate_states(lin, q_matrix("ER", [0.2], 3), lengths, np.full(3, 1 / 3), rng)
        er = fit_mk(lin, states, lengths, "ER", starts=1)
        sym = fit_mk(lin, states, lengths, "SYM", starts=1)
        ard = fit_mk(lin, states, lengths, "ARD", starts=1)
        assert er.loglik <= sym.loglik + 1e-6 and sym.loglik <= ard.loglik + 1e-6
        rejections += lrt(er, ard)[2] < 0.05
    assert rejections / 20 < 0.2


def test_a_fit_with_zero_likelihood_is_refused_not_reported():
    # root mit -> child apache on a zero-length edge: P(0) = I, so no rate explains it
    states, lengths = np.array([0, 1, 0]), np.array([np.nan, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"1 parent -> child edge\(s\) of length 0 join different known"):
        fit_mk(forest([-1, 0, 0]), states, lengths, "ER")
    # the same through an unknown root: two zero-length children that disagree
    with pytest.raises(ValueError, match="through nodes of unknown state"):
        fit_mk(forest([-1, 0, 0]), np.array([-1, 0, 1]), np.array([np.nan, 0.0, 0.0]), "ER")
    # any positive length makes it possible, and the fit finite
    fit = fit_mk(forest([-1, 0, 0]), states, np.array([np.nan, 0.5, 1.0]), "ER")
    assert np.isfinite(fit.loglik) and fit.loglik < 0
