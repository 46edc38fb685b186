"""Hidden rate classes of parents: one class is the Mk likelihood, a brute-force sum over
every parent's class, and planted copy/edit parents recovered and classified."""
import itertools

import numpy as np
import pytest
from forests import forest, random_tree
from scipy import optimize, stats

from phylohf.phylo.mk import MkData, q_matrix, simulate_states
from phylohf.phylo.ratemodels import rate_model
from phylohf.phylo.rateclasses import RateClassData, _gradient, _unpack, fit_rate_classes

Q = q_matrix("ER", [0.4], 3)


def test_one_class_or_equal_scales_is_the_mk_likelihood():
    rng = np.random.default_rng(0)
    parent = random_tree(80, rng)
    lin = forest(parent)
    lengths = np.where(parent >= 0, rng.choice([0.5, 1.0, 2.0], 80), np.nan)
    states = rng.integers(-1, 3, 80)
    mk = MkData(lin, states, lengths, k=3).loglik(Q)
    data = RateClassData(lin, states, lengths, 3)
    assert data.passes(Q, [1.0], [1.0])[0] == pytest.approx(mk, abs=1e-9)
    assert data.passes(Q, [1.0, 1.0], [0.3, 0.7])[0] == pytest.approx(mk, abs=1e-9)


def test_brute_force_over_parent_classes():
    """Sum over all 2^parents class assignments of the product of weights and the Mk
    likelihood with each parent's child edges scaled."""
    parent = np.array([-1, 0, 0, 1, 1, 2, -1, 6])
    lin = forest(parent)
    lengths = np.where(parent >= 0, [0, 0.5, 1.0, 0.7, 0.3, 1.2, 0, 0.8], np.nan)
    states = np.array([-1, 1, -1, 0, 2, 2, 1, 0])
    scales, w = np.array([0.2, 3.0]), np.array([0.35, 0.65])
    parents = [0, 1, 2, 6]
    total, edit = 0.0, np.zeros(len(parents))
    for assign in itertools.product([0, 1], repeat=len(parents)):
        cls = dict(zip(parents, assign))
        groups = np.array([cls[p] if p >= 0 else 0 for p in parent])
        ll = MkData(lin, states, lengths, k=3, groups=groups).loglik(np.stack([scales[0] * Q, scales[1] * Q]))
        total += np.prod(w[list(assign)]) * np.exp(ll)
        edit += np.array(assign) * np.prod(w[list(assign)]) * np.exp(ll)
    data = RateClassData(lin, states, lengths, 3)
    ll, joint, _ = data.passes(Q, scales, w, up=True)
    assert ll == pytest.approx(np.log(total), abs=1e-10)
    # outside messages are divided by the family's likelihood: the joint is the posterior
    assert np.allclose(np.exp(joint[parents]).sum(axis=1), 1.0)
    assert np.allclose(np.exp(joint[parents, 1]), edit / total)


@pytest.mark.parametrize("model", ["SYM", "GTR"])
def test_exact_gradient_matches_finite_differences(model):
    rng = np.random.default_rng(3)
    n = 120
    parent = random_tree(n, rng)
    lin = forest(parent)
    lengths = np.where(parent >= 0, rng.choice([0.5, 1.0, 2.0], n), np.nan)
    states = rng.integers(-1, 3, n)
    data = RateClassData(lin, states, lengths, 3)
    rm = rate_model(model, 3)
    x = np.r_[rng.normal(-1, 0.5, rm.m), np.log(3.0), 0.4]          # Q, log scale_1, logit_1

    def ll(x):
        return data.passes(*_unpack(rm, x, 2))[0]

    _, joint, grad = data.passes(*_unpack(rm, x, 2), up=True)
    exact = _gradient(rm, x, 2, data, joint, grad)
    numeric = optimize.approx_fprime(x, ll, 1e-6)
    assert np.allclose(exact, numeric, rtol=1e-4, atol=1e-4), (exact, numeric)


def test_planted_copy_and_edit_parents_are_recovered():
    rng = np.random.default_rng(4)
    n = 6000
    parent = np.r_[-1, rng.integers(0, np.maximum(1, np.arange(1, n) // 8))]
    lin = forest(parent)
    edit = rng.random(n) < 0.4                      # each parent's class: edit (fast) or copy
    groups = np.where(parent >= 0, edit[np.maximum(parent, 0)], 0).astype(np.int64)
    slow, fast = 0.05, 1.0
    states = simulate_states(lin, np.stack([slow * Q, fast * Q]), np.ones(n), np.full(3, 1 / 3), rng,
                             groups=groups)
    states[rng.random(n) < 0.2] = -1
    lengths = np.r_[np.nan, np.ones(n - 1)]
    fit = fit_rate_classes(lin, states, lengths, "ER", 3, R=2, starts=2)
    rate = -np.diag(fit.Q).mean() / 2                # class-0 (slow) rate of one transition
    assert rate * fit.scales[1] == pytest.approx(0.4 * fast, rel=0.2)
    assert rate == pytest.approx(0.4 * slow, rel=0.6)
    assert fit.weights[1] == pytest.approx(0.4, abs=0.08)
    assert fit.test["df"] == 2 and fit.test["p"] < 1e-10
    truth = edit[fit.parents]
    auc = stats.mannwhitneyu(fit.posterior[truth, 1], fit.posterior[~truth, 1]).statistic / \
        (truth.sum() * (~truth).sum())
    assert auc > 0.9, auc
    assert np.allclose(fit.posterior.sum(axis=1), 1.0)
