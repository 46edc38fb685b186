"""Transition matrices: hand-computed counts and statistics, the exact best ordering and its null-engine
test, the simulator's direction."""
from itertools import permutations

import numpy as np
import pytest
import scipy.sparse as sp

from forests import forest, simulated_store, store_of
from phylohf.genealogy.genome import build
from phylohf.genealogy.lineage import Lineage
from phylohf.phylo.null import fit_null, null_test
from phylohf.phylo.transitions import (bowker, best_ordering, equalised, gains_and_losses, ordering_shares,
                                        ordering_statistic, transitions)
from phylohf.store.database import Store
from phylohf.genealogy.traits import binary, categorical


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


def test_bowker_statistic_by_hand():
    counts = np.array([[0, 5, 1], [1, 0, 3], [1, 3, 0]])
    stat, df = bowker(counts)
    assert stat == pytest.approx(16 / 6 + 0 + 0) and df == 3           # (5-1)^2/6, (1-1)^2/2, (3-3)^2/6


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
    # the dynamic programme of the null engine finds the same optimum, one matrix or a stack
    stack = np.stack([counts, counts.T, np.zeros_like(counts)])
    assert ordering_shares(stack) == pytest.approx([share, best_ordering(counts.T)[1], 0.0])


def test_ordering_test_separates_directed_from_symmetric_change():
    # changes only go up (0 -> 1 -> 2 -> 3) versus the same tree under symmetric change: the
    # share (maximised on every replicate) beats the symmetric null only for the first
    rng = np.random.default_rng(3)
    n = 4000
    parent = np.r_[-1, rng.integers(np.maximum(0, np.arange(1, n) - 50), np.arange(1, n))]
    lineage = forest(parent)
    up, sym = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for nodes in lineage.levels()[1:]:
        p = parent[nodes]
        change = rng.random(len(nodes)) < 0.3
        up[nodes] = np.minimum(up[p] + change, 3)
        sym[nodes] = np.where(change, (sym[p] + rng.integers(1, 4, len(nodes))) % 4, sym[p])
    p = {}
    for name, states in (("up", up), ("symmetric", sym)):
        model = fit_null(lineage, states, 4, "SYM")
        p[name] = null_test(lineage, states, model, ordering_statistic(parent, 4), 39, seed=1).p
    assert p["up"] == pytest.approx(1 / 40) and p["symmetric"] > 0.1


def test_equalised_counts_by_hand():
    # n = (10, 2) edges leave states 0 and 1: C[0, 1] = 2 -> 2 / 10 * 6, C[1, 0] = 1 -> 1 / 2 * 6
    W = equalised(np.array([[8, 2], [1, 1]]))
    assert W.ravel().tolist() == pytest.approx([8.0, 1.2, 3.0, 1.0])
    assert equalised(np.zeros((3, 2, 2))).tolist() == np.zeros((3, 2, 2)).tolist()


def test_rate_ordering_sees_direction_that_balanced_counts_hide():
    # a 2-state chain at its equilibrium, 0 -> 1 four times rarer than 1 -> 0: the counts balance
    # (0.8 x 0.025 = 0.2 x 0.1 per edge), so their ordering says nothing, but the rates have a
    # direction, which the tested ordering (equalised counts) finds against the symmetric null
    rng = np.random.default_rng(5)
    n = 30_000
    parent = np.r_[-np.ones(3000, np.int64), rng.integers(0, np.arange(3000, n))]
    lineage = forest(parent)
    states = np.zeros(n, np.int64)
    states[:3000] = rng.random(3000) < 0.2
    for nodes in lineage.levels()[1:]:
        x, u = states[parent[nodes]], rng.random(len(nodes))
        states[nodes] = np.where(x == 0, u < 0.025, u >= 0.1)
    t = transitions(parent, states, 2)
    assert abs(t.net[0, 1]) < 0.15 * (t.counts[0, 1] + t.counts[1, 0])
    assert t.rate_ordering.order == [1, 0] and t.rate_ordering.share > 0.7
    model = fit_null(lineage, states, 2, "SYM")
    assert null_test(lineage, states, model, ordering_statistic(parent, 2), 39, seed=1).p == pytest.approx(1 / 40)


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
        last[scenario] = {names[s] for s in t.ordering.order[-2:]}
    # the simulator drifts restrictive licenses toward permissive ones only when directional
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


def test_license_ordering_claim_simulates_unclassified_ids_as_one_state(tmp_path):
    # two families, each with its own unclassified license name: the descriptive table keeps
    # both names, the claim's character (simulated with rates pooled over families) one 'other'
    import phylohf
    from forests import hub_record
    from phylohf.genealogy.traits import lumped_license_ids
    recs = []
    for root, name in (("x/own", "darjyo"), ("y/own", "zzz-terms")):
        recs.append(hub_record(root, "other"))
        recs[-1]["cardData"]["license_name"] = name
        recs += [hub_record(f"{root}-ft{i}", ("mit", "other")[i % 2], root) for i in range(6)]
        for r in recs[-6:][1::2]:
            r["cardData"]["license_name"] = name
    path = store_of(tmp_path, recs)
    eco = phylohf.open(path)
    lineage, _, genome = eco.load()
    ids, names, lut, lumped = lumped_license_ids(genome, 8)
    assert names == ["other", "mit"] and lumped == names
    own = {m: ids[lineage.node(m)] for m in ("x/own", "y/own", "x/own-ft1", "y/own-ft3")}
    assert set(own.values()) == {names.index("other")}
    r = eco.transitions("license", null=19)
    assert {"other:darjyo", "other:zzz-terms", "mit"} == set(r.names)
    (claim,) = r.claims
    assert claim.id == "ordering" and claim.replicates == 19
    assert "(mit < other ...)" in claim.statement or "(other < mit ...)" in claim.statement
