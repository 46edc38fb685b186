"""One Mk Q per relation type of the edge: equal Qs give the one-Q likelihood, the gradient
is exact, planted per-relation rates are recovered and the LRT holds its size."""
import numpy as np
import pytest
from forests import random_tree

from phylohf.genealogy.lineage import Lineage
from phylohf.phylo import mk
from phylohf.phylo.asr import marginal
from phylohf.phylo.byrelation import fit_by_relation, relation_groups
from phylohf.phylo.mk import MkData, q_matrix, simulate_states
from phylohf.phylo.ratemodels import RateModel


def related_forest(n, rng, p_quantized=0.4):
    """A random tree whose edges are finetune (0) or quantized (2) at random."""
    parent = random_tree(n, rng)
    child = np.flatnonzero(parent >= 0)
    rel = np.where(rng.random(len(child)) < p_quantized, 2, 0).astype(np.int8)
    return Lineage.from_edges(np.array([f"m{i}" for i in range(n)], object), np.ones(n, bool),
                              np.zeros(n, np.int64), child, parent[child], np.ones(len(child), np.int64), rel)


FAST = q_matrix("ARD", [0.5, 0.2, 0.3, 0.6, 0.1, 0.4], 3)
SLOW = FAST / 10


def test_groups_with_equal_q_give_the_one_q_likelihood():
    rng = np.random.default_rng(0)
    lin = related_forest(200, rng)
    groups, names = relation_groups(lin)
    assert names == ["finetune", "quantized"] and (groups[lin.parent < 0] == -1).all()
    lengths = np.where(lin.parent >= 0, rng.choice([0.5, 1.0, 2.0], lin.n), np.nan)
    states = rng.integers(-1, 3, lin.n)
    one = MkData(lin, states, lengths, k=3).loglik(FAST)
    two = MkData(lin, states, lengths, k=3, groups=groups)
    assert two.loglik(np.stack([FAST, FAST])) == pytest.approx(one, abs=1e-9)
    assert two.loglik(np.stack([FAST, SLOW])) != pytest.approx(one, abs=1e-3)
    m1 = marginal(lin, states, FAST, lengths)
    m2 = marginal(lin, states, np.stack([FAST, FAST]), lengths, groups=groups)
    assert np.allclose(m1.posterior, m2.posterior) and m2.loglik == pytest.approx(m1.loglik)


@pytest.mark.parametrize("few_lengths", [True, False])
@pytest.mark.parametrize("prior", ["equal", "fitzjohn"])
@pytest.mark.parametrize("model", ["ARD", "GTR"])
def test_grouped_gradient_matches_finite_differences(model, prior, few_lengths, monkeypatch):
    if not few_lengths:
        monkeypatch.setattr(mk, "_FEW_LENGTHS", 0)
    rng = np.random.default_rng(1)
    lin = related_forest(60, rng)
    groups, _ = relation_groups(lin)
    lengths = rng.choice([0.3, 0.8, 1.5], lin.n) if few_lengths else rng.uniform(0.05, 2.0, lin.n)
    lengths = np.where(lin.parent >= 0, lengths, np.nan)
    states = rng.integers(-1, 3, lin.n)
    data = MkData(lin, states, lengths, k=3, groups=groups)
    rm = RateModel(model, 3)
    x = rng.normal(-0.5, 0.6, 2 * rm.m)
    cut, plan, known = mk._prepared(lin, states, lengths, 3, groups)
    assert known.counts.sum() > 0
    ll, grad = mk._loglik_and_grad(cut, plan, rm, x, prior, known)
    f = lambda y: data.loglik(np.stack([rm.q(y[:rm.m]), rm.q(y[rm.m:])]), prior)   # noqa: E731
    h = 1e-5
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert ll == pytest.approx(f(x), abs=1e-10)
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_planted_relation_rates_are_recovered_and_detected():
    rng = np.random.default_rng(2)
    lin = related_forest(6000, rng)
    groups, _ = relation_groups(lin)
    states = simulate_states(lin, np.stack([FAST, SLOW]), np.ones(lin.n), np.full(3, 1 / 3), rng,
                             groups=groups)
    states[rng.random(lin.n) < 0.2] = -1
    lengths = np.r_[np.nan, np.ones(lin.n - 1)]
    r = fit_by_relation(lin, states, lengths, "ER", 3, starts=1)
    fast, slow = -np.diag(r.fit.Q[0]).mean() / 2, -np.diag(r.fit.Q[1]).mean() / 2
    assert fast == pytest.approx(-np.diag(FAST).mean() / 2, rel=0.2)
    assert slow == pytest.approx(-np.diag(SLOW).mean() / 2, rel=0.35)
    assert r.test["df"] == 1 and r.test["p"] < 1e-6
    assert r.edges["finetune"] + r.edges["quantized"] == lin.n - 1
    js = r.to_json()
    assert set(js["Q"]) == {"finetune", "quantized"} and "ER by relation vs one ER" in js["lrt"]
    assert any("quantized" in line for line in r.lines(["a", "b", "c"]))


def test_by_relation_lrt_size_under_one_q():
    ps = []
    for r in range(16):
        rng = np.random.default_rng(300 + r)
        lin = related_forest(300, rng)
        states = simulate_states(lin, FAST, np.ones(lin.n), np.full(3, 1 / 3), rng)
        states[rng.random(lin.n) < 0.2] = -1
        ps.append(fit_by_relation(lin, states, np.r_[np.nan, np.ones(lin.n - 1)], "SYM", 3, starts=1).test["p"])
    assert np.sum(np.array(ps) < 0.05) <= 2, ps
