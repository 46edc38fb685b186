"""Joint (Pupko) reconstruction and Sankoff parsimony against brute-force enumeration,
against marginals and Fitch, and on deep chains and big trees."""
import numpy as np
import pytest

from forests import forest, random_tree, simulated_case
from phylohf.phylo.asr import fitch, joint, marginal, sankoff
from phylohf.phylo.mk import q_matrix, simulate_states, stationary, transition_matrices
from test_asr import PRIORS, assignments, small_case


def log_joint(parent, S, Q, lengths, prior_of_root):
    """Log probability of every full assignment (rows of S), root prior included."""
    with np.errstate(divide="ignore"):
        logP = np.log(transition_matrices(Q, np.where(parent >= 0, lengths, 0.0)))
        prior_of_root = np.log(prior_of_root)
    ll = np.zeros(len(S))
    for v in np.flatnonzero(parent >= 0):
        ll += logP[v][S[:, parent[v]], S[:, v]]
    for r in np.flatnonzero(parent < 0):
        ll += prior_of_root[S[:, r]]
    return ll


def brute_prior(parent, states, Q, lengths, prior):
    """The root prior of a one-tree case (fitzjohn: the root's conditional likelihoods)."""
    k = len(Q)
    if prior == "equal":
        return np.full(k, 1 / k)
    if prior == "stationary":
        return stationary(Q)
    S = assignments(states, k)
    w = np.exp(log_joint(parent, S, Q, lengths, np.ones(k)))
    cond = np.bincount(S[:, np.flatnonzero(parent < 0)[0]], weights=w, minlength=k)
    return cond / cond.sum()


# -- joint ---------------------------------------------------------------------------------
@pytest.mark.parametrize("prior", PRIORS)
def test_joint_matches_brute_force(prior):
    rng = np.random.default_rng(23)
    for _ in range(80):
        parent, states, Q, lengths = small_case(rng)
        j = joint(forest(parent), states, Q, lengths, prior)
        pi = brute_prior(parent, states, Q, lengths, prior)
        S = assignments(states, len(Q))
        ll = log_joint(parent, S, Q, lengths, pi)
        assert j.loglik == pytest.approx(ll.max(), abs=1e-10)
        got = log_joint(parent, j.state[None], Q, lengths, pi)[0]
        assert got == pytest.approx(ll.max(), abs=1e-10)      # ties: any argmax
        if (ll >= ll.max() - 1e-9).sum() == 1:
            assert (j.state == S[ll.argmax()]).all()
        known = states >= 0
        assert (j.state[known] == states[known]).all()
        m = marginal(forest(parent), states, Q, lengths, prior)
        assert (m.posterior[np.arange(len(parent)), j.state] > 0).all()


def test_joint_forest_and_directional_q():
    """A forest with an absorbing 0 -> 1 -> 2 chain: zero probabilities throughout."""
    rng = np.random.default_rng(4)
    Q = np.array([[-1.0, 1.0, 0.0], [0.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
    for _ in range(60):
        n = int(rng.integers(2, 9))
        parent = random_tree(n, rng)
        if n > 3:
            parent[int(rng.integers(1, n))] = -1
        lengths = np.where(parent >= 0, rng.exponential(1.0, n) * (rng.random(n) > 0.2),
                           np.nan)
        states = simulate_states(forest(parent), Q, lengths, 0, rng)
        states[rng.random(n) < 0.5] = -1
        j = joint(forest(parent), states, Q, lengths, "equal")
        ll = log_joint(parent, assignments(states, 3), Q, lengths, np.full(3, 1 / 3))
        assert j.loglik == pytest.approx(ll.max(), abs=1e-10)
        assert log_joint(parent, j.state[None], Q, lengths,
                         np.full(3, 1 / 3))[0] == pytest.approx(ll.max(), abs=1e-10)


def test_joint_agrees_with_marginal_map_on_simulated_tree():
    parent, Q, lengths, truth, hidden, states = simulated_case()
    j = joint(forest(parent), states, Q, lengths, "stationary")
    m = marginal(forest(parent), states, Q, lengths, "stationary")
    assert (j.state[hidden] == m.map_state[hidden]).mean() > 0.8
    assert j.loglik == pytest.approx(log_joint(parent, j.state[None], Q, lengths,
                                               stationary(Q))[0], rel=1e-10)


def test_joint_deep_chain():
    n, k = 100_000, 3
    parent = np.arange(-1, n - 1)
    Q = q_matrix("ARD", [0.3, 0.1, 0.2, 0.4, 0.1, 0.3], k)
    lengths = np.where(parent >= 0, 0.5, np.nan)
    states = simulate_states(forest(parent), Q, lengths, 0, np.random.default_rng(2))
    states[np.arange(n) % 1000 != 0] = -1
    j = joint(forest(parent), states, Q, lengths, "fitzjohn")
    assert (j.state[states >= 0] == states[states >= 0]).all()
    logP = np.log(transition_matrices(Q, 0.5))
    # the root is known, so its fitzjohn prior is its indicator and adds nothing
    assert j.loglik == pytest.approx(logP[j.state[:-1], j.state[1:]].sum(), rel=1e-10)
    with pytest.raises(ValueError, match="root_prior"):
        joint(forest([-1, 0]), [0, -1], Q, np.array([np.nan, 1.0]), "flat")


# -- Sankoff -------------------------------------------------------------------------------
def brute_sankoff(parent, states, cost):
    S = assignments(states, len(cost))
    edges = np.flatnonzero(parent >= 0)
    total = cost[S[:, parent[edges]], S[:, edges]].sum(axis=1)
    best = S[total == total.min()]
    sets = np.zeros((len(parent), len(cost)), bool)
    for v in range(len(parent)):
        sets[v, np.unique(best[:, v])] = True
    return sets, total.min()


def random_parsimony_case(rng):
    n, k = int(rng.integers(1, 9)), int(rng.integers(2, 4))
    parent = random_tree(n, rng)
    if n > 4 and rng.random() < 0.3:
        parent[int(rng.integers(1, n))] = -1
    return parent, np.where(rng.random(n) < 0.5, rng.integers(0, k, n), -1), k


def test_sankoff_unit_costs_is_fitch():
    rng = np.random.default_rng(31)
    for _ in range(300):
        parent, states, k = random_parsimony_case(rng)
        sets, total = sankoff(forest(parent), states, 1.0 - np.eye(k))
        fsets, changes = fitch(forest(parent), states, k)
        assert total == changes and (sets == fsets).all()
    parent = random_tree(2000, rng)
    states = np.where(rng.random(2000) < 0.5, rng.integers(0, 4, 2000), -1)
    states[0] = 3
    sets, total = sankoff(forest(parent), states)                 # default cost, big levels
    fsets, changes = fitch(forest(parent), states, 4)
    assert total == changes and (sets == fsets).all()


@pytest.mark.parametrize("integer", [True, False])
def test_sankoff_matches_brute_force(integer):
    rng = np.random.default_rng(37 + integer)
    for _ in range(300):
        parent, states, k = random_parsimony_case(rng)
        cost = rng.integers(0, 5, (k, k)) if integer else rng.uniform(0, 3, (k, k))
        np.fill_diagonal(cost, 0)
        sets, total = sankoff(forest(parent), states, cost)
        want_sets, want = brute_sankoff(parent, states, cost.astype(float))
        assert total == pytest.approx(want, abs=1e-12)
        assert (sets == want_sets).all()


def test_sankoff_deep_chain_and_errors():
    n = 100_000
    parent = np.arange(-1, n - 1)
    states = np.where(np.arange(n) % 1000 == 0, (np.arange(n) // 1000) % 2, -1)
    cost = np.array([[0.0, 1.0], [3.0, 0.0]])
    sets, total = sankoff(forest(parent), states, cost)
    assert total == 50 * 1 + 49 * 3                    # 0->1 costs 1, 1->0 costs 3
    assert sets[states >= 0].sum() == (states >= 0).sum()
    with pytest.raises(ValueError, match="cost"):
        sankoff(forest([-1, 0]), [0, 1], [[0, np.inf], [1, 0]])
