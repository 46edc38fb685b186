"""Transition matrices: hand-computed counts and tests, the exact best ordering, the simulator's direction."""
from itertools import permutations

import numpy as np
import pytest
import scipy.sparse as sp

from forests import simulated_store
from phylohf.genome import build
from phylohf.lineage import Lineage
from phylohf.phylo.transitions import bowker, best_ordering, gains_and_losses, pair_tests, transitions
from phylohf.store import Store
from phylohf.traits import binary, categorical


def test_counts_skip_unknown_ends_and_count_each_edge_once():
    #        0(a)
    #      /  |   \
    #   1(b) 2(?) 3(a)      4(b) -> 5(a)
    parent = np.array([-1, 0, 0, 0, -1, 4])
    states = np.array([0, 1, -1, 0, 1, 0])
    t = transitions(parent, states, 2)
    assert t.counts.tolist() == [[1, 1], [1, 0]]          # a->a, a->b, b->a; the unknown edge skipped
    assert t.P.tolist() == [[0.5, 0.5], [1.0, 0.0]]
    assert t.net.tolist() == [[0, 0], [0, 0]]


def test_relation_filter():
    parent = np.array([-1, 0, 0])
    relation = np.array([-1, 0, 2], np.int8)
    t = transitions(parent, np.array([0, 1, 1]), 2, relation, only=2)
    assert t.counts.tolist() == [[0, 1], [0, 0]]


def test_bowker_and_binomial_by_hand():
    counts = np.array([[0, 5, 1], [1, 0, 3], [1, 3, 0]])
    stat, df, p = bowker(counts)
    assert stat == pytest.approx(16 / 6) and df == 3
    tests = {(t.a, t.b): t for t in pair_tests(counts)}
    assert tests[0, 1].p == pytest.approx(14 / 64)        # 2 * P(X >= 5), X ~ Bin(6, 1/2)
    assert tests[0, 2].p == pytest.approx(1.0) and tests[1, 2].p == pytest.approx(1.0)
    # Benjamini–Hochberg over 3 tests: the smallest p times 3
    assert tests[0, 1].q == pytest.approx(min(1.0, 3 * 14 / 64))


@pytest.mark.parametrize("seed", range(5))
def test_best_ordering_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    k = 6
    counts = rng.poisson(rng.gamma(1.0, 3.0, (k, k)))
    np.fill_diagonal(counts, 0)
    order, share = best_ordering(counts)
    forward = lambda o: sum(counts[o[i], o[j]] for i in range(k) for j in range(i + 1, k))
    assert sorted(order) == list(range(k))
    assert forward(order) == max(forward(p) for p in permutations(range(k)))
    assert share == pytest.approx(forward(order) / counts.sum())


def test_ordering_null_separates_directed_from_random_flows():
    rng = np.random.default_rng(3)
    parent = np.r_[-1, rng.integers(0, np.arange(1, 3000))]
    directed = np.minimum(np.arange(3000) % 4 + (rng.random(3000) < 0.3), 3)   # changes go up
    states = directed.copy()
    states[1:] = np.maximum(states[parent[1:]], states[1:])                    # never down
    assert transitions(parent, states, 4, n_perm=30).ordering.null_p < 0.05
    assert transitions(parent, rng.integers(0, 4, 3000), 4, n_perm=30).ordering.null_p > 0.05


def test_gains_and_losses_per_element():
    parent = np.array([-1, 0, 0, 2])
    m = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 0, 0]], bool))
    declared = np.array([True, True, False, True])
    gains, losses = gains_and_losses(parent, m, declared)
    assert gains.tolist() == [0, 0, 1] and losses.tolist() == [0, 1, 0]   # edge 0->1 only


@pytest.fixture(scope="module")
def ecosystems(tmp_path_factory):
    out = {}
    for scenario in ("directional", "neutral"):
        path = simulated_store(tmp_path_factory.mktemp(scenario), 60_000, seed=4, scenario=scenario)
        with Store(path, read_only=True) as store:
            lineage = Lineage.from_store(store)
            out[scenario] = lineage, build(store, lineage.n)
    return out


def test_directional_license_drift_orders_permissive_licenses_last(ecosystems):
    last = {}
    for scenario, (lineage, genome) in ecosystems.items():
        states, names = categorical(genome, "license", top=6)
        t = transitions(lineage.parent, states, len(names))
        assert t.counts.sum() > 1000
        if scenario == "directional":
            assert t.bowker[2] < 1e-6
        last[scenario] = {names[s] for s in t.ordering.order[-2:]}
    # the simulator drifts restrictive licenses toward permissive ones only when directional.
    # (Bowker's test rejects under neutral evolution too: it tests symmetric counts, and the
    # parent-state composition of preferential-attachment trees is far from equilibrium.)
    assert last["directional"] == {"apache-2.0", "mit"} and last["neutral"] != {"apache-2.0", "mit"}


def test_categorical_and_binary_traits(ecosystems):
    lineage, genome = ecosystems["directional"]
    states, names = categorical(genome, "license", top=3)
    assert len(names) == 4 and names[-1] == "(rare)"
    assert ((states == -1) == ~genome.is_declared("license")).all()
    counts = np.bincount(states[states >= 0], minlength=4)
    assert counts[0] >= counts[1] >= counts[2]               # most frequent first
    en, _ = binary(genome, "language:en")
    assert set(np.unique(en)) <= {-1, 0, 1} and ((en == -1) == ~genome.is_declared("language")).all()
    with pytest.raises(ValueError, match="no trait"):
        binary(genome, "language:klingon")
