"""The null engine: rates by hand, what a replicate keeps, the p-value's formula, planted rate
classes recovered, and calibration under a hard neutral case (restrictive founders, copying and
editing parents, rates by relation type)."""
import numpy as np
import pytest

from forests import forest
from phylohf.genealogy.lineage import Lineage
from scipy import optimize

from phylohf.phylo.null import (Simulator, fit_null, irreversibility, net_flow, null_test, pair_counts, rates,
                                reversible)
from phylohf.phylo.ratemodels import stationary


def test_rates_by_hand():
    counts = np.array([[6, 3, 1], [1, 8, 1], [0, 0, 0]])
    ard = rates(counts, "ARD")
    assert ard[0, 1] == pytest.approx(3 / 10) and ard[1, 0] == pytest.approx(1 / 10)
    assert ard[2].tolist() == [0, 0, 0]                               # no edge leaves state 2
    sym = rates(counts, "SYM")
    assert sym[0, 1] == sym[1, 0] == pytest.approx(4 / 20)            # (N01 + N10) / (n0 + n1)
    assert sym[0, 2] == sym[2, 0] == pytest.approx(1 / 10)
    assert np.allclose(sym.sum(axis=1), 0) and np.allclose(sym, sym.T)


def test_reversible_rates_are_the_constrained_maximum():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, (5, 5)) + np.diag(rng.integers(200, 600, 5))
    Q = rates(counts, "GTR")
    flux = stationary(Q)[:, None] * Q
    assert np.allclose(flux, flux.T, atol=1e-12)                      # detailed balance
    N, n = counts * (1 - np.eye(5)), counts.sum(axis=1)

    def loglik(q):
        return float(np.sum(np.where(N > 0, N * np.log(np.where(q > 0, q, 1)), 0)) - np.sum(n[:, None] * q))

    def profile(y):                                                  # s_ab given pi, as the docstring
        pi = np.exp(np.r_[0.0, y])
        D = n[:, None] * pi[None, :] + n[None, :] * pi[:, None]
        return -loglik((N + N.T) / D * pi[None, :] * (1 - np.eye(5)))

    best = optimize.minimize(profile, np.zeros(4), method="BFGS")
    assert loglik(reversible(counts)) == pytest.approx(-best.fun, abs=1e-6)


def test_irreversibility_by_hand():
    #   0 -> 1 -> 2 -> 0 (a cycle, one way): ARD fits it exactly, GTR cannot
    parent = np.array([-1, 0, 1, 2, -1, 4])
    cyc = np.array([0, 1, 2, 0, 1, 1])[:, None]
    stat = irreversibility(parent, 3)(cyc)[0]
    assert stat > 0
    back = np.array([0, 1, 0, 1, 1, 1])[:, None]                    # 0 <-> 1 only: reversible
    assert irreversibility(parent, 3)(back)[0] == pytest.approx(0, abs=1e-9)
    two = np.array([0, 1, 1, 0, 1, 0])[:, None]                     # two states: always reversible
    assert irreversibility(parent, 2)(two)[0] == pytest.approx(0, abs=1e-9)


def test_pair_counts_by_hand():
    #   0 ── 1 ── 3        4 (alone)
    #   └─── 2
    parent = np.array([-1, 0, 0, 1, -1])
    S = np.array([[0, 1], [1, 1], [-1, -1], [1, 0], [1, 1]])       # replicates share the data's unknowns
    c = pair_counts(parent, S, 2)
    assert c[0].tolist() == [[0, 1], [0, 1]]          # 0->1, 1->1; the unknown child skipped
    assert c[1].tolist() == [[0, 0], [1, 1]]          # 1->1, 1->0
    assert pair_counts(parent, S, 1, lut=[0, 0])[:, 0, 0].tolist() == [2, 2]      # lumped into one state


def _hard_neutral(seed: int, n: int = 20_000, k: int = 4):
    """Symmetric change from founders all in state 0; parents copy (0.02) or edit (0.5); rates
    x1, x0.5, x0.05, x3 by relation; 30% of the nodes undeclared."""
    rng = np.random.default_rng(seed)
    parent = np.where(rng.random(n) < 0.3, -1, rng.integers(np.maximum(np.arange(n) - 500, 0), np.maximum(np.arange(n), 1)))
    parent[0] = -1
    child = np.flatnonzero(parent >= 0)
    relation = rng.integers(0, 4, len(child))
    lineage = Lineage.from_edges(np.array([f"m{i}" for i in range(n)], object), np.ones(n, bool),
                                 np.zeros(n, np.int64), child, parent[child], np.ones(len(child)), relation)
    edit = rng.random(n) < 0.4
    scale = np.array([1, 0.5, 0.05, 3.0])
    state = np.zeros(n, np.int64)
    for nodes in lineage.levels()[1:]:
        p = lineage.parent[nodes]
        rate = np.minimum(np.where(edit[p], 0.5, 0.02) * scale[lineage.relation[nodes]], 0.9)
        change = rng.random(len(nodes)) < rate
        state[nodes] = np.where(change, (state[p] + rng.integers(1, k, len(nodes))) % k, state[p])
    return lineage, np.where(rng.random(n) < 0.3, -1, state), edit


def test_rate_classes_of_parents_are_recovered():
    lineage, states, _ = _hard_neutral(1)
    m = fit_null(lineage, states, 4, "SYM")
    assert m.relations == ["finetune", "adapter", "quantized", "merge"]
    assert len(m.scales) == 2 and m.scales[1] > 8 * m.scales[0]           # copiers and editors
    assert 0.2 < m.weights[1] < 0.8
    q = -np.array([np.diag(g).mean() for g in m.Q])
    assert q[2] < q[1] < q[0] < q[3]                                      # quantized < adapter < finetune < merge


def test_a_replicate_keeps_founders_and_what_is_declared():
    #   0 (2) ── 1 (0) ── 3 (1)      4 (?) ── 5 (0)      6 (1, alone)
    #    └────── 2 (?)
    parent = np.array([-1, 0, 0, 1, -1, 4, -1])
    lineage = forest(parent)
    states = np.array([2, 0, -1, 1, -1, 0, 1])
    m = fit_null(lineage, states, 3, "SYM")
    m.Q = np.full((1, 3, 3), 0.5) - 1.5 * np.eye(3)               # one class changing half the time
    m.scales, m.weights = np.array([0.5]), np.array([1.0])
    S = Simulator(lineage, states, m).draw(200, np.random.default_rng(0))
    assert S.shape == (7, 200)
    # founders (the first declared model of each lineage: 0, 5 below an undeclared root, 6) as observed
    assert (S[0] == 2).all() and (S[5] == 0).all() and (S[6] == 1).all()
    assert (S[2] == -1).all() and (S[4] == -1).all()               # unknown in the data, in every replicate
    for node in (1, 3):                                           # drawn, and they vary
        assert (S[node] >= 0).all() and len(np.unique(S[node])) == 3


def test_p_value_formula():
    lineage, states, _ = _hard_neutral(2, n=3000)
    m = fit_null(lineage, states, 4, "SYM")
    r = null_test(lineage, states, m, lambda S: np.zeros(S.shape[1]), 19, seed=1)
    assert r.p == 1.0 and r.replicates == 19               # every replicate ties: (1 + 19) / 20
    big = null_test(lineage, states, m, lambda S: (S == states[:, None]).all(axis=0).astype(float), 19, seed=1)
    assert big.p == pytest.approx(1 / 20)                  # only the data reproduce themselves
    # without the family of most changes: the statistic of the data with that family unknown
    flow = net_flow(lineage.parent, 4, [0], [1, 2, 3])
    r = null_test(lineage, states, m, flow, 19, seed=1)
    top = lineage.index()[r.leave_one_out["family"]]
    assert r.leave_one_out["statistic"] == flow(np.where(lineage.root == top, -1, states)[:, None])[0]
    changes = np.bincount(lineage.root[(lineage.parent >= 0) & (states >= 0) & (states[lineage.parent] >= 0)
                                       & (states != states[lineage.parent])], minlength=lineage.n)
    assert top == changes.argmax() and r.n_eff == pytest.approx(changes.sum() ** 2 / (changes ** 2).sum())


def test_replicates_do_not_depend_on_the_number_of_threads(monkeypatch):
    # chunks of replicates run on one thread per core, each chunk with its own random stream
    import phylohf.phylo.null as engine
    import phylohf.phylo.parallel as parallel
    lineage, states, _ = _hard_neutral(3, n=3000)
    m = fit_null(lineage, states, 4, "SYM")
    monkeypatch.setattr(engine, "CHUNK_CELLS", 7 * lineage.n)        # 50 replicates: 8 chunks
    seen = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(parallel, "cores", lambda threads=threads: threads)
        seen.append(null_test(lineage, states, m, lambda S: S.sum(axis=0).astype(float), 50, seed=4))
    assert seen[0] == seen[1] == seen[2]


def test_net_flow_is_calibrated_on_a_hard_neutral_forest():
    # the raw flow runs from the founders' state; the engine's p must not
    ps = []
    for seed in range(12):
        lineage, states, _ = _hard_neutral(10 + seed)
        m = fit_null(lineage, states, 4, "SYM", seed=seed)
        raw = net_flow(lineage.parent, 4, [0], [1, 2, 3])(states[:, None])[0]
        assert raw > 100
        ps.append(null_test(lineage, states, m, net_flow(lineage.parent, 4, [0], [1, 2, 3]), 39, seed).p)
    assert np.mean(np.array(ps) <= 0.05) <= 1 / 12, ps
    assert np.median(ps) > 0.2


def _f81(seed: int, pi, cycle: bool = False, n: int = 20_000):
    """F81 change (to b with probability pi_b, a reversible process with unequal frequencies)
    from founders all in state 0, copying (0.02) and editing (0.5) parents, 30% undeclared; or,
    with ``cycle``, every change one step along 0 -> 1 -> 2 -> 3 -> 0 (not reversible)."""
    rng = np.random.default_rng(seed)
    parent = np.where(rng.random(n) < 0.3, -1, rng.integers(np.maximum(np.arange(n) - 500, 0), np.maximum(np.arange(n), 1)))
    parent[0] = -1
    lineage = forest(parent)
    edit = rng.random(n) < 0.4
    state = np.zeros(n, np.int64)
    for nodes in lineage.levels()[1:]:
        p = lineage.parent[nodes]
        change = rng.random(len(nodes)) < np.where(edit[p], 0.5, 0.02)
        new = (state[p] + 1) % 4 if cycle else rng.choice(4, len(nodes), p=pi)
        state[nodes] = np.where(change, new, state[p])
    return lineage, np.where(rng.random(n) < 0.3, -1, state)


def test_irreversibility_is_calibrated_on_a_reversible_forest_far_from_equilibrium():
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    ps = []
    for seed in range(10):
        lineage, states = _f81(40 + seed, pi)
        m = fit_null(lineage, states, 4, "GTR", seed=seed)
        ps.append(null_test(lineage, states, m, irreversibility(lineage.parent, 4), 39, seed).p)
    assert np.mean(np.array(ps) <= 0.05) <= 1 / 10, ps
    assert np.median(ps) > 0.2
    lineage, states = _f81(60, pi, cycle=True)
    m = fit_null(lineage, states, 4, "GTR")
    assert null_test(lineage, states, m, irreversibility(lineage.parent, 4), 39, 0).p == pytest.approx(1 / 40)
