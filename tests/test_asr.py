"""Ancestral states: two-pass marginals and Fitch parsimony against brute-force enumeration,
rerooting for reversible Q, deep chains, and a calibration check on simulated data."""
import itertools

import numpy as np
import pytest

from forests import forest, random_tree, simulated_case
from phylohf.phylo.asr import fitch, marginal
from phylohf.phylo.mk import (MkData, log_likelihood, q_matrix, simulate_states, stationary,
                              transition_matrices)

PRIORS = ("equal", "stationary", "fitzjohn")


def random_lengths(parent, rng) -> np.ndarray:
    """Exponential branch lengths, a fifth of them zero (sampled ancestors), roots NaN."""
    t = rng.exponential(1.0, len(parent)) * (rng.random(len(parent)) > 0.2)
    return np.where(parent >= 0, t, np.nan)


def assignments(states, k) -> np.ndarray:
    """Every completion of the unknown states, one row each."""
    free = np.flatnonzero(states < 0)
    combos = np.array(list(itertools.product(range(k), repeat=len(free))), np.int64)
    full = np.tile(states, (len(combos), 1))
    full[:, free] = combos.reshape(len(combos), len(free))
    return full


def brute_marginals(parent, states, Q, lengths, prior):
    """Posterior of every node and log-likelihood by enumeration (one tree)."""
    k = len(Q)
    P = transition_matrices(Q, np.where(parent >= 0, lengths, 0.0))
    S = assignments(states, k)
    w = np.ones(len(S))
    for v in np.flatnonzero(parent >= 0):
        w *= P[v][S[:, parent[v]], S[:, v]]
    rs = S[:, np.flatnonzero(parent < 0)[0]]
    cond = np.bincount(rs, weights=w, minlength=k)
    pi = {"equal": np.full(k, 1 / k), "stationary": stationary(Q),
          "fitzjohn": cond / cond.sum()}[prior]
    w = w * pi[rs]
    post = np.array([np.bincount(S[:, v], weights=w, minlength=k) for v in range(len(parent))])
    return post / w.sum(), np.log(w.sum())


def small_case(rng):
    n, k = int(rng.integers(2, 9)), int(rng.integers(2, 4))
    parent = random_tree(n, rng)
    Q = q_matrix("ARD", rng.uniform(0.1, 2.0, k * (k - 1)), k)
    lengths = random_lengths(parent, rng)
    states = simulate_states(forest(parent), Q, lengths, np.full(k, 1 / k), rng)
    states[rng.random(n) < 0.6] = -1
    return parent, states, Q, lengths


# -- marginals -----------------------------------------------------------------------------
@pytest.mark.parametrize("prior", PRIORS)
def test_marginals_match_brute_force(prior):
    rng = np.random.default_rng(11)
    for _ in range(60):
        parent, states, Q, lengths = small_case(rng)
        m = marginal(forest(parent), states, Q, lengths, prior)
        post, ll = brute_marginals(parent, states, Q, lengths, prior)
        np.testing.assert_allclose(m.posterior, post, atol=1e-10)
        np.testing.assert_allclose(m.posterior.sum(axis=1), 1.0, atol=1e-12)
        assert m.loglik == pytest.approx(ll, abs=1e-10)
        assert m.loglik == pytest.approx(log_likelihood(forest(parent), states, Q, lengths, prior),
                                         abs=1e-10)
        known = states >= 0
        assert (m.observed == known).all() and (m.map_state[known] == states[known]).all()
        assert (m.posterior[known] == np.eye(len(Q))[states[known]]).all()


@pytest.mark.parametrize("prior", PRIORS)
def test_zero_transition_probabilities_are_exact(prior):
    """An absorbing, directional chain 0 -> 1 -> 2 with zero-length edges: many messages
    are exactly zero, which the sibling products must exclude exactly."""
    rng = np.random.default_rng(5)
    Q = np.array([[-1.0, 1.0, 0.0], [0.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
    for _ in range(40):
        parent = random_tree(int(rng.integers(3, 9)), rng)
        lengths = random_lengths(parent, rng)
        states = simulate_states(forest(parent), Q, lengths, 0, rng)
        states[rng.random(len(parent)) < 0.5] = -1
        m = marginal(forest(parent), states, Q, lengths, prior)
        post, ll = brute_marginals(parent, states, Q, lengths, prior)
        np.testing.assert_allclose(m.posterior, post, atol=1e-10)
        assert m.loglik == pytest.approx(ll, abs=1e-10)


def reroot(parent, lengths, r):
    """Parent list and lengths of the same unrooted tree rooted at r."""
    nbrs = {v: [] for v in range(len(parent))}
    for v in np.flatnonzero(parent >= 0):
        nbrs[v].append((parent[v], lengths[v]))
        nbrs[parent[v]].append((v, lengths[v]))
    new_parent, new_len = np.full(len(parent), -1), np.full(len(parent), np.nan)
    stack, seen = [r], {r}
    while stack:
        v = stack.pop()
        for u, t in nbrs[v]:
            if u not in seen:
                seen.add(u)
                new_parent[u], new_len[u] = v, t
                stack.append(u)
    return new_parent, new_len


def test_reversible_q_matches_rerooting():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n, k = int(rng.integers(3, 12)), int(rng.integers(2, 5))
        parent = random_tree(n, rng)
        pi = rng.dirichlet(np.ones(k))
        S = rng.uniform(0.2, 2.0, (k, k))
        Q = (S + S.T) * pi[None, :]
        np.fill_diagonal(Q, 0.0)
        np.fill_diagonal(Q, -Q.sum(axis=1))
        lengths = np.where(parent >= 0, rng.exponential(1.0, n), np.nan)
        states = simulate_states(forest(parent), Q, lengths, pi, rng)
        states[rng.random(n) < 0.5] = -1
        states[rng.integers(n)] = int(rng.integers(k))
        m = marginal(forest(parent), states, Q, lengths, "stationary")
        for v in np.flatnonzero(states < 0):
            p2, t2 = reroot(parent, lengths, v)
            part, _ = MkData(forest(p2), states, t2, k=k).root_partials(Q)
            expect = pi * part[0] / (pi * part[0]).sum()
            np.testing.assert_allclose(m.posterior[v], expect, atol=1e-10)


def test_forest_is_each_family_independently():
    rng = np.random.default_rng(8)
    k = 3
    Q = q_matrix("ARD", rng.uniform(0.1, 2.0, k * (k - 1)), k)
    cases = []
    for n in (5, 1, 7, 3):
        parent = random_tree(n, rng)
        lengths = random_lengths(parent, rng)
        states = simulate_states(forest(parent), Q, lengths, np.full(k, 1 / k), rng)
        cases.append((parent, np.where(rng.random(n) < 0.5, -1, states), lengths))
    offsets = np.cumsum([0] + [len(c[0]) for c in cases[:-1]])
    parent = np.concatenate([np.where(c[0] >= 0, c[0] + o, -1) for c, o in zip(cases, offsets)])
    states, lengths = (np.concatenate([c[i] for c in cases]) for i in (1, 2))
    for prior in PRIORS:
        whole = marginal(forest(parent), states, Q, lengths, prior)
        singles = [marginal(forest(p), s, Q, t, prior) for p, s, t in cases]
        np.testing.assert_allclose(whole.posterior,
                                   np.concatenate([s.posterior for s in singles]), atol=1e-12)
        assert whole.loglik == pytest.approx(sum(s.loglik for s in singles), abs=1e-9)


def test_deep_chain_and_unknown_families():
    n, k = 100_000, 3
    parent = np.arange(-1, n - 1)
    Q = q_matrix("ARD", [0.3, 0.1, 0.2, 0.4, 0.1, 0.3], k)
    lengths = np.where(parent >= 0, 0.5, np.nan)
    rng = np.random.default_rng(2)
    states = simulate_states(forest(parent), Q, lengths, 0, rng)
    states[np.arange(n) % 1000 != 0] = -1
    m = marginal(forest(parent), states, Q, lengths, "fitzjohn")
    np.testing.assert_allclose(m.posterior.sum(axis=1), 1.0, atol=1e-12)
    assert m.loglik == pytest.approx(log_likelihood(forest(parent), states, Q, lengths,
                                                    "fitzjohn"), rel=1e-10)
    # a family without any known state: the root prior propagated down, loglik 0
    m = marginal(forest([-1, 0, 1]), [-1, -1, -1], Q, np.array([np.nan, 1.0, 2.0]), "stationary")
    np.testing.assert_allclose(m.posterior, np.tile(stationary(Q), (3, 1)), atol=1e-12)
    assert m.loglik == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="root_prior"):
        marginal(forest([-1, 0]), [0, -1], Q, np.array([np.nan, 1.0]), "flat")


def test_simulated_reconstruction_is_accurate_and_calibrated():
    parent, Q, lengths, truth, hidden, states = simulated_case()
    m = marginal(forest(parent), states, Q, lengths, "stationary")
    acc = (m.map_state[hidden] == truth[hidden]).mean()
    baseline = (truth[hidden] == np.bincount(states[~hidden]).argmax()).mean()
    assert acc > baseline + 0.1
    p_max = m.posterior[hidden].max(axis=1)
    hit = m.map_state[hidden] == truth[hidden]
    bins = np.digitize(p_max, [0.5, 0.7, 0.9])
    for b in np.unique(bins):
        sel = bins == b
        if sel.sum() >= 50:
            assert abs(hit[sel].mean() - p_max[sel].mean()) < 0.08
    p_true = m.posterior[hidden, truth[hidden]]
    assert p_true.mean() == pytest.approx((m.posterior[hidden] ** 2).sum(axis=1).mean(), abs=0.03)


# -- Fitch ---------------------------------------------------------------------------------
def brute_parsimony(parent, states, k):
    """Minimum number of changes and the states each node takes in some optimal assignment."""
    S = assignments(states, k)
    edges = np.flatnonzero(parent >= 0)
    cost = (S[:, edges] != S[:, parent[edges]]).sum(axis=1)
    best = S[cost == cost.min()]
    sets = np.zeros((len(parent), k), bool)
    for v in range(len(parent)):
        sets[v, np.unique(best[:, v])] = True
    return sets, int(cost.min())


def test_fitch_matches_brute_force():
    rng = np.random.default_rng(17)
    for _ in range(300):
        n, k = int(rng.integers(1, 10)), int(rng.integers(2, 4))
        parent = random_tree(n, rng)
        if n > 4 and rng.random() < 0.3:                 # split into a forest
            parent[int(rng.integers(1, n))] = -1
        states = np.where(rng.random(n) < 0.5, rng.integers(0, k, n), -1)
        sets, changes = fitch(forest(parent), states, k)
        want_sets, want = brute_parsimony(parent, states, k)
        assert changes == want
        assert (sets == want_sets).all()


def test_fitch_known_internal_node_by_hand():
    # 0 (unknown) -> 1 (known 1) -> tips 2, 3 (known 0); 0 -> tip 4 (known 0)
    sets, changes = fitch(forest([-1, 0, 1, 1, 0]), [-1, 1, 0, 0, 0], 2)
    assert changes == 3                                  # 1->0 twice below the clamp, and
    assert sets[0].tolist() == [True, True]              # one more on either root edge
