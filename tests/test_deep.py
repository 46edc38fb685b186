"""Deep lineages: the passes cut at known nodes and the banded draws give the results of plain
node-by-node computations, on random trees with long unary chains (unknown and known states
inside them, k = 2 and 5, per-edge groups), with a number of steps that does not follow depth."""
import numpy as np
import pytest
from scipy import linalg

from phylohf.phylo import mk
from phylohf.phylo.asr import edge_expectations, joint, marginal
from phylohf.phylo.mk import MkData, fit_mk, q_matrix, simulate_states
from phylohf.phylo.null import NullModel, Simulator, _step
from phylohf.phylo.schedule import cut_levels, marked_above, marked_below
from forests import forest, random_tree


def chained_tree(rng, base: int = 8, longest: int = 10):
    """A random tree of ``base`` nodes whose every edge is stretched into a unary chain of
    0..longest extra nodes: the parent array (nodes in a shuffled order)."""
    parent = [-1]
    top = {0: 0}
    for v, p in enumerate(random_tree(base, rng)[1:], start=1):
        u = top[p]
        for _ in range(int(rng.integers(0, longest + 1))):
            parent.append(u)
            u = len(parent) - 1
        parent.append(u)
        top[v] = len(parent) - 1
    parent = np.array(parent)
    perm = rng.permutation(len(parent))                 # node numbers unrelated to depth
    inv = np.argsort(perm)
    return np.where(parent[perm] >= 0, inv[np.maximum(parent[perm], 0)], -1)


def case(seed: int, k: int, groups: bool):
    rng = np.random.default_rng(seed)
    parent = chained_tree(rng)
    n = len(parent)
    G = 3 if groups else 1
    Qs = np.stack([q_matrix("ARD", rng.uniform(0.1, 1.0, k * (k - 1)), k) for _ in range(G)])
    lengths = np.where(parent >= 0, rng.uniform(0.1, 1.5, n), np.nan)
    group = rng.integers(0, G, n)
    states = rng.integers(0, k, n)
    states[rng.random(n) < 0.5] = -1                    # unknown states inside chains, too
    return forest(parent), states, lengths, Qs, group


def edge_matrices(lin, lengths, Qs, group) -> np.ndarray:
    """expm(Q_g t) of the edge above every node (identity at roots), by scipy."""
    return np.array([np.eye(Qs.shape[-1]) if p < 0 else linalg.expm(Qs[g] * t)
                     for p, t, g in zip(lin.parent, lengths, group)])


def plain_likelihood(lin, states, Pe, root) -> float:
    """Felsenstein's pruning one node at a time, deepest first (no cuts, no levels)."""
    n, k = len(states), Pe.shape[-1]
    L = np.ones((n, k))
    L[states >= 0] = np.eye(k)[states[states >= 0]]
    for v in np.argsort(-lin.depth, kind="stable"):
        if lin.parent[v] >= 0:
            L[lin.parent[v]] *= Pe[v] @ L[v]
    return float(np.prod([root @ L[r] for r in np.flatnonzero(lin.parent < 0)]))


def clamped(states, v, a):
    s = states.copy()
    s[v] = a
    return s


@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize("groups", [False, True])
def test_likelihood_and_marginals_equal_plain_pruning(k, groups):
    for seed in range(3):
        lin, states, lengths, Qs, group = case(seed, k, groups)
        Q = Qs if groups else Qs[0]
        g = group if groups else None
        Pe = edge_matrices(lin, lengths, Qs, group if groups else np.zeros(lin.n, int))
        root = np.full(k, 1 / k)
        lik = plain_likelihood(lin, states, Pe, root)
        assert MkData(lin, states, lengths, k=k, groups=g).loglik(Q) == pytest.approx(np.log(lik), abs=1e-10)
        m = marginal(lin, states, Q, lengths, groups=g)
        assert m.loglik == pytest.approx(np.log(lik), abs=1e-10)
        for v in np.flatnonzero(states < 0):
            post = [plain_likelihood(lin, clamped(states, v, a), Pe, root) / lik for a in range(k)]
            assert np.allclose(m.posterior[v], post, atol=1e-10)


def test_joint_loglik_is_that_of_its_assignment():
    for seed in range(4):
        lin, states, lengths, Qs, _ = case(seed, 3, False)
        j = joint(lin, states, Qs[0], lengths)
        Pe = edge_matrices(lin, lengths, Qs, np.zeros(lin.n, int))
        child = np.flatnonzero(lin.parent >= 0)
        logp = np.log(Pe[child, j.state[lin.parent[child]], j.state[child]]).sum()
        assert j.loglik == pytest.approx(logp + np.log(1 / 3) * (lin.parent < 0).sum(), abs=1e-10)
        assert (j.state[states >= 0] == states[states >= 0]).all()


@pytest.mark.parametrize("k", [2, 5])
def test_em_expectations_equal_plain_pairs(k):
    for seed in range(3):
        lin, states, _, _, group = case(seed, k, True)
        rng = np.random.default_rng(seed)
        P = rng.dirichlet(np.ones(k), (3, k))
        root = rng.dirichlet(np.ones(k))
        e = edge_expectations(lin, states, P, group, root)
        Pe = np.where((lin.parent >= 0)[:, None, None], P[group], np.eye(k))
        lik = plain_likelihood(lin, states, Pe, root)
        assert e.loglik == pytest.approx(np.log(lik), abs=1e-10)
        keep = MkData.informative(lin, states >= 0)
        pairs = np.zeros_like(P)
        for v in np.flatnonzero((lin.parent >= 0) & keep):
            p = lin.parent[v]
            for a in range(k) if states[p] < 0 else [states[p]]:
                for b in range(k) if states[v] < 0 else [states[v]]:
                    pairs[group[v], a, b] += plain_likelihood(lin, clamped(clamped(states, p, a), v, b), Pe, root)
        assert np.allclose(e.pairs, pairs / lik, atol=1e-10)


@pytest.mark.parametrize("prior", ["equal", "fitzjohn"])
@pytest.mark.parametrize("few", [True, False])
def test_gradient_on_chains_matches_finite_differences(prior, few, monkeypatch):
    if not few:
        monkeypatch.setattr(mk, "_FEW_LENGTHS", 0)
    for seed in range(3):
        lin, states, lengths, _, group = case(seed, 3, True)
        if few:
            lengths = np.where(lin.parent >= 0, np.ceil(lengths), np.nan)
        data = MkData(lin, states, lengths, k=3, groups=group)
        cut, plan, known = mk._prepared(lin, states, lengths, 3, group)
        x = np.log(np.random.default_rng(seed).uniform(0.2, 1.5, 18))
        ll, grad = mk._loglik_and_grad(cut, plan, "ARD", x, prior, known)

        def f(y):
            return data.loglik(np.stack([q_matrix("ARD", np.exp(z), 3) for z in y.reshape(3, 6)]), prior)
        fd = np.array([(f(x + 1e-5 * e) - f(x - 1e-5 * e)) / 2e-5 for e in np.eye(18)])
        assert ll == pytest.approx(f(x), abs=1e-10)
        assert np.allclose(grad, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_marks_and_levels_by_doubling():
    rng = np.random.default_rng(5)
    lin = forest(chained_tree(rng, 30, 40))
    known = rng.random(lin.n) < 0.2
    anc = [[] for _ in range(lin.n)]                # proper ancestors, walked one by one
    for v in range(lin.n):
        p = lin.parent[v]
        while p >= 0:
            anc[v].append(p)
            p = lin.parent[p]
    below = np.zeros(lin.n, bool)
    for v in np.flatnonzero(known):
        below[[v, *anc[v]]] = True
    assert (marked_below(lin.parent, known) == below).all()
    assert (marked_above(lin.parent, known) == [known[a].any() for a in anc]).all()
    level = cut_levels(lin.parent, known)
    p = lin.parent
    assert (level[p < 0] == 0).all()
    inner = np.flatnonzero(p >= 0)
    assert (level[inner] == np.where(known[p[inner]], 1, level[p[inner]] + 1)).all()


def deep_chain(n: int, seed: int):
    """An n-deep chain with 30 side branches of up to 200 nodes, three relation groups."""
    rng = np.random.default_rng(seed)
    parent = list(range(-1, n - 1))
    for b in rng.choice(n, 30, replace=False):
        parent.append(int(b))
        parent.extend(range(len(parent) - 1, len(parent) - 1 + int(rng.integers(0, 200))))
    return forest(parent), rng


def test_simulation_draws_equal_level_by_level():
    lin, rng = deep_chain(3000, 1)
    k = 4
    Qs = np.stack([q_matrix("ARD", rng.uniform(0.05, 0.5, 12), k), q_matrix("SYM", rng.uniform(0.05, 0.5, 6), k)])
    lengths = rng.exponential(1.0, lin.n)
    group = rng.integers(0, 2, lin.n)
    got = simulate_states(lin, Qs, lengths, np.full(k, 0.25), np.random.default_rng(9), groups=group)
    rng2 = np.random.default_rng(9)                 # the plain descent, one level at a time
    key, lu = mk.edge_keys(lin.parent, lengths, group)
    u, cls_of = np.unique(key, return_inverse=True)
    cum = np.cumsum(mk.class_transitions(Qs, u, lu), axis=2)
    want = np.empty(lin.n, np.int64)
    levels = lin.levels()
    want[levels[0]] = rng2.choice(k, size=len(levels[0]), p=np.full(k, 0.25))
    for nodes in levels[1:]:
        c = cum[cls_of[nodes], want[lin.parent[nodes]]]
        want[nodes] = np.minimum((rng2.random(len(nodes))[:, None] > c).sum(axis=1), k - 1)
    assert (got == want).all()


def test_null_replicates_equal_level_by_level():
    lin, rng = deep_chain(3000, 2)
    k, C = 5, 2
    states = rng.integers(0, k, lin.n)
    states[rng.random(lin.n) < 0.4] = -1
    group = np.where(lin.parent >= 0, rng.integers(0, 3, lin.n), -1)
    Q = np.stack([q_matrix("ARD", rng.uniform(0.05, 0.4, 20), k) for _ in range(3)])
    model = NullModel("ARD", Q, ["a", "b", "c"], group, np.array([0.3, 2.0]), np.array([0.6, 0.4]))
    sim = Simulator(lin, states, model)
    got = sim.draw(6, np.random.default_rng(4))
    rng2 = np.random.default_rng(4)                 # the plain descent, one level at a time
    P = np.stack([_step(q, model.scales) for q in Q]).reshape(3 * C * k, k)
    S = np.repeat(states[:, None], 6, axis=1)
    cls = np.zeros((lin.n, 6), np.int64)
    cls[sim.parents] = np.searchsorted(np.cumsum(model.weights)[:-1], rng2.random((len(sim.parents), 6)), "right")
    drawn = np.zeros(lin.n, bool)
    drawn[sim.nodes] = True
    for nodes in lin.levels()[1:]:
        nodes = nodes[drawn[nodes]]
        p = lin.parent[nodes]
        row = (group[nodes][:, None] * C + cls[p]) * k + S[p]
        u = rng2.random(row.shape)
        for (i, j), r in np.ndenumerate(row):                 # inverse CDF, the parent's state first
            a = S[p[i], j]
            order = [a] + [b for b in range(k) if b != a]
            S[nodes[i], j] = order[min(np.searchsorted(np.cumsum(P[r, order]), u[i, j], "right"), k - 1)]
    assert (got == np.where(states[:, None] >= 0, S, -1)).all()
    assert sim.level.max() > 1000                   # the banded route ran


def test_passes_on_a_deep_chain_take_few_levels():
    lin, rng = deep_chain(100_000, 3)
    Q = q_matrix("ARD", [0.05, 0.1], 2)
    lengths = np.r_[np.nan, np.ones(lin.n - 1)]
    states = simulate_states(lin, Q, np.ones(lin.n), [0.5, 0.5], rng)
    states[rng.random(lin.n) < 0.3] = -1
    data = MkData(lin, states, lengths, k=2)
    assert lin.depth.max() >= 99_999 and len(data.levels) < 60
    fit = fit_mk(lin, states, lengths, "ARD", starts=1)
    assert np.allclose(fit.rates, [0.05, 0.1], rtol=0.3)
