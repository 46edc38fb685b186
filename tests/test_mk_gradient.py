"""The exact gradient of the Mk log-likelihood with respect to the log-rates (fit_mk's jac)."""
import time

import numpy as np
import pytest
from scipy import optimize

from phylohf.phylo import mk
from phylohf.phylo.mk import MkData, fit_mk, index_matrix, q_matrix
from phylohf.phylo.ratemodels import RateModel, rate_model

from test_mk import forest, random_tree

USER = [[0, 1, 0], [2, 0, 1], [0, 2, 0]]            # a birth-death-like ladder, 2 rates


def small_case(model, seed, few_lengths):
    """A random 3-family forest with known internal nodes, unknowns, tied and zero lengths."""
    rng = np.random.default_rng(seed)
    k = 3 if not isinstance(model, str) else 4
    sizes = [25, 12, 1]
    parent, off = [], 0
    for size in sizes:
        p = random_tree(size, rng)
        parent.extend(np.where(p >= 0, p + off, -1))
        off += size
    parent = np.asarray(parent)
    n = len(parent)
    if few_lengths:
        lengths = rng.choice([0.3, 0.8, 1.5], n)
    else:
        lengths = rng.uniform(0.05, 2.0, n)
    lengths = np.where(parent >= 0, lengths, np.nan)
    states = rng.integers(-1, k, n)
    zero = 4                                        # a zero-length edge to an unknown node
    lengths[zero], states[zero] = 0.0, -1
    states[sizes[0]] = rng.integers(k)              # a known root
    lin = forest(parent)
    idx = index_matrix(model, k)
    x = np.log(rng.uniform(0.1, 1.5, idx.max()))
    return lin, states, lengths, k, idx, x


def central_differences(data, idx, x, prior, h=1e-5):
    f = lambda y: data.loglik(q_matrix(idx, np.exp(y), data.k), prior)   # noqa: E731
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("few_lengths", [True, False])
@pytest.mark.parametrize("prior", ["equal", "stationary", "fitzjohn"])
@pytest.mark.parametrize("model", ["ER", "SYM", "ARD", "user"])
def test_gradient_matches_finite_differences(model, prior, few_lengths, monkeypatch):
    if not few_lengths:                             # force the per-edge route as well
        monkeypatch.setattr(mk, "_FEW_LENGTHS", 0)
    model = USER if model == "user" else model
    for seed in range(3):
        lin, states, lengths, k, idx, x = small_case(model, seed, few_lengths)
        data = MkData(lin, states, lengths, k=k)
        cut, plan, known = mk._prepared(lin, states, lengths, k)
        assert (plan.classes is None) == (not few_lengths)
        ll, grad = mk._loglik_and_grad(cut, plan, idx, x, prior, known)
        assert ll == pytest.approx(data.loglik(q_matrix(idx, np.exp(x), k), prior), abs=1e-10)
        assert grad is not None
        fd = central_differences(data, idx, x, prior)
        assert np.allclose(grad, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("prior", ["equal", "stationary", "fitzjohn"])
def test_cut_known_edges_keep_the_likelihood(prior):
    """Known -> known edges counted apart, their children's subtrees cut off as trees below a
    known root, and known roots with nothing unknown below them (a lone model, a known pair)
    dropped for their root prior: the same log-likelihood as the whole forest, on far fewer
    nodes (P of the counted entries computed entry by entry, as the per-class matrices give them)."""
    rng = np.random.default_rng(5)
    n, k = 400, 3
    parent = np.r_[random_tree(n - 3, rng), -1, -1, n - 2]          # + a lone model, a known pair
    lin = forest(parent)
    lengths = np.where(parent >= 0, rng.choice([0.4, 1.0], n), np.nan)
    states = np.where(rng.random(n) < 0.3, -1, rng.integers(0, k, n))
    states[-3:] = [0, 1, 2]
    Q = q_matrix("ARD", rng.uniform(0.2, 1.5, 6), k)
    cut, plan, known = mk._prepared(lin, states, lengths, k)
    assert cut.n < n / 2 and known.counts.sum() > n / 3
    informative = MkData.informative(lin, states >= 0)
    held = np.zeros(n, bool)                                          # an unknown informative child
    held[parent[(parent >= 0) & (states < 0) & informative]] = True
    cut_child = (parent >= 0) & (states >= 0) & (states[np.maximum(parent, 0)] >= 0) & held
    lone = (parent < 0) & (states >= 0) & informative & ~held
    assert lone[-3] and lone[-2] and cut_child.any()
    assert np.array_equal(known.lone, np.bincount(states[lone], minlength=k))
    assert np.array_equal(known.cut_roots, np.bincount(states[cut_child], minlength=k))
    assert np.array_equal(known.roots, known.lone - known.cut_roots)
    p = mk.entry_transitions(Q, known.t, known.a, known.b)
    assert np.allclose(p, mk.class_transitions(Q, known.keys, known.lu)[known.cls, known.a, known.b],
                       rtol=1e-12, atol=0)
    whole = MkData(lin, states, lengths, k=k).loglik(Q, prior)
    assert cut.loglik(Q, prior) + known.loglik(p, Q, prior) == pytest.approx(whole, abs=1e-9)
    # and the exact gradient (GTR: the stationary prior's term too) against the whole forest's
    rm = rate_model("GTR", k)
    x = rng.normal(0, 0.5, rm.m)
    ll, grad = mk._loglik_and_grad(cut, plan, rm, x, prior, known)
    f = lambda y: MkData(lin, states, lengths, k=k).loglik(rm.q(y), prior)
    assert ll == pytest.approx(f(x), abs=1e-9)
    assert np.allclose(grad, [(f(x + 1e-6 * e) - f(x - 1e-6 * e)) / 2e-6 for e in np.eye(rm.m)], atol=1e-5)


def test_a_nested_fit_as_start_can_only_improve():
    rng = np.random.default_rng(6)
    n, k = 600, 3
    parent = random_tree(n, rng)
    lin = forest(parent)
    lengths = np.r_[np.nan, np.ones(n - 1)]
    states = rng.integers(0, k, n)
    states[rng.random(n) < 0.3] = -1
    for small, big in (("SYM", "ARD"), ("GTR", "ARD"), ("ER", "SYM")):
        fs = fit_mk(lin, states, lengths, small, starts=1, k=k)
        fb = fit_mk(lin, states, lengths, big, starts=1, k=k, start=fs.Q)
        assert fb.loglik >= fs.loglik - 1e-9


def test_gradient_of_uninformative_data_is_zero():
    parent = random_tree(20, np.random.default_rng(0))
    lengths = np.where(parent >= 0, 1.0, np.nan)
    cut, plan, known = mk._prepared(forest(parent), np.full(20, -1), lengths, 3)
    ll, grad = mk._loglik_and_grad(cut, plan, index_matrix("ARD", 3), np.zeros(6), "equal", known)
    assert ll == 0.0 and np.array_equal(grad, np.zeros(6))


@pytest.mark.parametrize("few_lengths", [True, False])
def test_defective_q(few_lengths, monkeypatch):
    """Eigenvectors unusable: the exact gradient by Frechet derivatives of expm per length
    class when the lengths are few, else no exact gradient (fit_mk then differences)."""
    if not few_lengths:
        monkeypatch.setattr(mk, "_FEW_LENGTHS", 0)
    idx = np.array([[0, 1, 0], [0, 0, 2], [0, 0, 0]])  # 0 -> 1 -> 2, equal rates: a Jordan block
    parent = np.array([-1, 0, 0, 1, 1, 2])
    lengths = np.array([np.nan, 0.5, 1.0, 0.7, 0.2, 0.7])
    lin = forest(parent)
    data = MkData(lin, [0, -1, 1, 2, 1, 2], lengths, k=3)
    assert mk._eigen(q_matrix(idx, [1.0, 1.0], 3)) is None
    cut, plan, known = mk._prepared(lin, [0, -1, 1, 2, 1, 2], lengths, 3)
    ll, grad = mk._loglik_and_grad(cut, plan, idx, np.zeros(2), "equal", known)
    assert ll == pytest.approx(data.loglik(q_matrix(idx, [1.0, 1.0], 3)), abs=1e-12)
    if few_lengths:
        assert np.allclose(grad, central_differences(data, idx, np.zeros(2), "equal"),
                           rtol=1e-5, atol=1e-8)
    else:
        assert grad is None
        fit = fit_mk(lin, [0, -1, 1, 2, 1, 2], lengths, idx, starts=1)
        assert np.isfinite(fit.loglik)


def numerical_gradient_fit(lin, states, lengths, model, root_prior):
    """fit_mk's first start as it was, with L-BFGS-B's own finite-difference gradient."""
    data = MkData(lin, states, lengths)
    idx = index_matrix(model, data.k)
    m = int(idx.max())
    edge = data.lengths[lin.parent >= 0]
    bounds = [(np.log(1e-6 / edge.mean()), np.log(1e3 / edge.mean()))] * m
    x0 = RateModel(model, data.k).start(mk._change_rates(data.states, data.lengths, lin.parent, data.k))

    def nll(x):
        ll = data.loglik(q_matrix(idx, np.exp(x), data.k), root_prior)
        return -ll if np.isfinite(ll) else 1e300

    res = optimize.minimize(nll, np.clip(x0, *bounds[0]), method="L-BFGS-B", bounds=bounds)
    return -res.fun, np.exp(res.x)


@pytest.mark.parametrize("model,prior", [("ARD", "equal"), ("SYM", "stationary"),
                                         ("ARD", "fitzjohn")])
def test_fit_unchanged_against_numerical_gradient_fit(model, prior):
    rng = np.random.default_rng(5)
    n, k = 2000, 3
    parent = random_tree(n, rng)
    lin = forest(parent)
    lengths = np.where(parent >= 0, rng.uniform(0.2, 1.0, n), np.nan)
    Q = q_matrix("ARD", [0.1, 0.3, 0.2, 0.05, 0.4, 0.15], k)
    states = mk.simulate_states(lin, Q, lengths, np.full(k, 1 / k), rng)
    states[rng.random(n) < 0.3] = -1
    fit = fit_mk(lin, states, lengths, model, root_prior=prior, starts=1)
    ll_num, rates_num = numerical_gradient_fit(lin, states, lengths, model, prior)
    assert fit.loglik >= ll_num - 1e-6 * abs(ll_num)
    assert fit.loglik == pytest.approx(ll_num, abs=1e-3)
    assert np.allclose(fit.rates, rates_num, rtol=2e-2)


def test_timing_report_ard_k10_100k_nodes(capsys):
    """A report, not an assertion on time: one ARD k=10 start on a 100,000-node family."""
    rng = np.random.default_rng(0)
    n, k = 100_000, 10
    parent = random_tree(n, rng)
    lin = forest(parent)
    lengths = np.where(parent >= 0, rng.integers(1, 4, n).astype(float), np.nan)
    Q = q_matrix("ARD", rng.uniform(0.005, 0.05, k * (k - 1)), k)
    states = mk.simulate_states(lin, Q, lengths, np.full(k, 1 / k), rng)
    states[rng.random(n) < 0.3] = -1
    t0 = time.perf_counter()
    fit = fit_mk(lin, states, lengths, "ARD", starts=1)
    elapsed = time.perf_counter() - t0
    assert np.isfinite(fit.loglik) and fit.loglik > MkData(lin, states, lengths, k=k).loglik(Q)
    with capsys.disabled():
        print(f"\n[timing] fit_mk ARD k={k}, {n} nodes, 3 edge lengths, one start: "
              f"{elapsed:.2f} s (loglik {fit.loglik:.2f})")
