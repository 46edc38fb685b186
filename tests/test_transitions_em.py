"""EM estimate of the per-generation matrix with unknown states: brute force on a small
tree, the complete-data closed form, recovery of a planted matrix."""
from itertools import product

import numpy as np
import pytest

from phylohf.phylo.asr import edge_expectations
from phylohf.phylo.transitions import em_matrix, transitions
from forests import forest, random_tree


def _brute(parent, states, P, edge_class, root, count):
    """Likelihood and expected pair counts (over the edges above ``count`` nodes) by
    enumerating every assignment of the unknown states."""
    unknown = np.flatnonzero(states < 0)
    k = P.shape[-1]
    child = np.flatnonzero(parent >= 0)
    counted = child[count[child]]
    lik, pairs, roots = 0.0, np.zeros_like(P), np.zeros(k)
    for fill in product(range(k), repeat=len(unknown)):
        s = states.copy()
        s[unknown] = fill
        w = np.prod(root[s[parent < 0]]) * np.prod(P[edge_class[child], s[parent[child]], s[child]])
        lik += w
        np.add.at(pairs, (edge_class[counted], s[parent[counted]], s[counted]), w)
        np.add.at(roots, s[parent < 0], w)
    return lik, pairs / lik, roots / lik


def test_expectations_equal_brute_force():
    #        0(?)              5(1)
    #      /   |   \             |
    #   1(0)  2(?)  3(?)        6(?)
    #          |
    #         4(2)
    parent = np.array([-1, 0, 0, 0, 2, -1, 5])
    states = np.array([-1, 0, -1, -1, 2, 1, -1])
    edge_class = np.array([0, 0, 1, 0, 1, 0, 1])
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(3), size=(2, 3))
    root = np.array([0.5, 0.3, 0.2])
    # the unknown leaves 3 and 6 do not touch the likelihood: their edges are not counted
    informative = np.array([True, True, True, False, True, True, False])
    lik, pairs, roots = _brute(parent, states, P, edge_class, root, informative)
    e = edge_expectations(forest(parent), states, P, edge_class, root)
    assert e.loglik == pytest.approx(np.log(lik), rel=1e-12)
    assert np.allclose(e.pairs, pairs, atol=1e-12)
    assert np.allclose(e.roots, roots, atol=1e-12)
    assert e.pairs.sum() == pytest.approx(3)                 # edges above 1, 2 and 4


def test_complete_data_gives_normalised_counts():
    rng = np.random.default_rng(0)
    parent = random_tree(400, rng)
    states = rng.integers(0, 3, 400)
    em = em_matrix(forest(parent), states, 3)
    assert em.converged and em.iterations <= 3     # P, then the root distribution, then no change
    assert np.allclose(em.P[0], transitions(parent, states, 3).P, atol=1e-12)


def _simulate_chain(parent, P, root, rng):
    lineage = forest(parent)
    states = np.empty(len(parent), np.int64)
    for level in lineage.levels():
        top = parent[level] < 0
        states[level[top]] = rng.choice(len(root), top.sum(), p=root)
        kids = level[~top]
        cum = P.cumsum(axis=1)[states[parent[kids]]]
        states[kids] = (rng.random(len(kids))[:, None] > cum).sum(axis=1)
    return states


def test_em_recovers_a_planted_matrix_with_half_the_states_hidden():
    rng = np.random.default_rng(11)
    parent = random_tree(30_000, rng)
    P = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.02, 0.08, 0.9]])
    truth = _simulate_chain(parent, P, np.array([0.6, 0.3, 0.1]), rng)
    states = np.where(rng.random(len(parent)) < 0.5, -1, truth)
    em = em_matrix(forest(parent), states, 3)
    assert em.converged
    assert np.abs(em.P[0] - P).max() < 0.02
    observed = transitions(parent, states, 3).P            # the complete-case estimate, fewer edges
    e_em = edge_expectations(forest(parent), states, em.P, np.zeros(len(parent), int), em.root)
    e_obs = edge_expectations(forest(parent), states, observed[None], np.zeros(len(parent), int), em.root)
    assert e_em.loglik > e_obs.loglik                        # EM maximises the likelihood


def test_em_per_edge_class():
    rng = np.random.default_rng(5)
    parent = random_tree(20_000, rng)
    cls = rng.integers(0, 2, len(parent))
    Ps = np.array([[[0.9, 0.1], [0.1, 0.9]], [[0.5, 0.5], [0.05, 0.95]]])
    lineage = forest(parent)
    states = np.empty(len(parent), np.int64)
    for level in lineage.levels():
        top = parent[level] < 0
        states[level[top]] = rng.integers(0, 2, top.sum())
        kids = level[~top]
        p1 = Ps[cls[kids], states[parent[kids]], 1]
        states[kids] = rng.random(len(kids)) < p1
    hidden = np.where(rng.random(len(parent)) < 0.4, -1, states)
    em = em_matrix(lineage, hidden, 2, cls)
    assert np.abs(em.P - Ps).max() < 0.03


def test_no_state_at_all_gives_an_empty_result():
    # nobody declares the trait: k = 0 (this divided by zero before)
    em = em_matrix(forest([-1, 0, 0, 1]), np.full(4, -1), 0)
    assert em.P.shape == (1, 0, 0) and em.root.shape == (0,) and em.loglik == 0.0 and em.converged
