"""Power-law tails (Clauset, Shalizi & Newman 2009): closed forms, brute force, planted laws, and
agreement with the ``powerlaw`` package."""
import json
import warnings

import numpy as np
import pytest
from scipy import optimize, special

from phylohf.analyses.tails import TABLE, _alpha, _ks, _sampler, _scan, _zeta, power_law_tail, verdict


def discrete_power_law(n, alpha, x_min, rng, top=10 ** 6):
    """Exact draws from the discrete power law on x_min .. top - 1 by inverse CDF."""
    support = np.arange(x_min, top)
    cdf = np.cumsum(support ** -float(alpha))
    return support[np.searchsorted(cdf / cdf[-1], rng.random(n))]


def planted(seed, n=10_000):
    """A uniform body on 1..9 under a power law of exponent 2.5 from 10 on, n values of each."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.integers(1, 10, n), discrete_power_law(n, 2.5, 10, rng)]


def test_zeta_matches_scipy():
    a = np.linspace(1.001, 20, 200)[:, None]
    x = np.r_[np.arange(1, 300), np.geomspace(300, 1e9, 100)][None, :]
    assert np.abs(_zeta(a, x) / special.zeta(a, x) - 1).max() < 1e-11


def test_alpha_zeroes_the_score_with_the_observed_information():
    # the MLE solves sum log x / n = -zeta'(alpha, x_min) / zeta(alpha, x_min) (CSN eq. 3.6)
    t = np.array([2, 3, 5, 9, 2, 2, 40], float)
    alpha, info = _alpha(np.array([2.0, 3.0]), np.array([np.log(t).mean(), np.log(t[t >= 3]).mean()]))
    for q, a, i, tail in zip((2, 3), alpha, info, (t, t[t >= 3])):
        nll = lambda b: len(tail) * np.log(special.zeta(b, q)) + b * np.log(tail).sum()
        best = optimize.minimize_scalar(nll, bounds=(1.001, 20), method="bounded", options={"xatol": 1e-10}).x
        h = 1e-3
        assert a == pytest.approx(best, abs=1e-6)
        assert len(tail) * i == pytest.approx((nll(a + h) - 2 * nll(a) + nll(a - h)) / h ** 2, rel=1e-4)


def test_ks_is_the_supremum_over_every_integer_and_x_min_its_minimiser():
    rng = np.random.default_rng(3)
    x = np.r_[rng.integers(1, 6, 300), discrete_power_law(400, 2.2, 6, rng)]
    v, c = np.unique(x, return_counts=True)
    v = v.astype(float)
    brute = {}
    for j in np.flatnonzero(np.cumsum(c[::-1])[::-1][:-1] >= 50):
        tail = x[x >= v[j]]
        nll = lambda b: len(tail) * np.log(special.zeta(b, v[j])) + b * np.log(tail).sum()
        a = optimize.minimize_scalar(nll, bounds=(1.001, 20), method="bounded", options={"xatol": 1e-10}).x
        k = np.arange(v[j], tail.max() + 1)
        model = np.cumsum(k ** -a) / special.zeta(a, v[j])                   # P(X <= k)
        data = np.searchsorted(np.sort(tail), k, side="right") / len(tail)
        brute[j] = (np.abs(model - data).max(), a)
        assert _ks(v, c, np.array([j]), np.array([a]))[0] == pytest.approx(brute[j][0], abs=1e-9)
    j, a, _, d = _scan(v, c, 50)
    best = min(brute, key=lambda i: brute[i][0])
    assert j == best and a == pytest.approx(brute[best][1], abs=1e-6) and d == pytest.approx(brute[best][0], abs=1e-6)


def test_planted_power_law_under_a_body_is_recovered():
    r = power_law_tail(planted(1), replicates=0, min_tail=1000)
    assert r["x_min"] == 10 and r["n"] == 10_000
    assert r["ci"][0] < 2.5 < r["ci"][1] and r["ci"][1] - r["ci"][0] < 0.1
    # with tails as small as 50 the distance may settle higher up the law, never in the body
    assert 10 <= power_law_tail(planted(1), replicates=0)["x_min"] <= 30


def test_bootstrap_rejects_a_lognormal_and_keeps_a_power_law():
    rng = np.random.default_rng(0)
    ln = power_law_tail(np.ceil(rng.lognormal(0.3, 2.0, 20_000)), replicates=100, seed=1, min_tail=1000)
    assert ln["gof_p"] < 0.05 and ln["replicates"] == 100
    assert ln["lognormal"]["R"] < 0 and ln["lognormal"]["p"] < 0.1 and ln["verdict"] == "lognormal fits better"
    pl = power_law_tail(planted(2), replicates=100, seed=1, min_tail=1000)
    assert pl["gof_p"] >= 0.1 and pl["verdict"] in ("consistent with a power law", "power law and lognormal both plausible")


def test_replicates_follow_the_fitted_law_above_x_min_and_the_data_below():
    v, c = np.array([1.0, 2.0, 3.0]), np.array([600_000, 400_000, 1_000_000])
    draw = _sampler(v, c, 2, 1.5)                       # body {1, 2}, law of exponent 1.5 from 3 on
    w, k = draw(np.random.default_rng(0))
    n, z = k.sum(), special.zeta(1.5, 3)
    assert n == 2_000_000 and np.all(np.diff(w) > 0)
    share = lambda sel: k[sel].sum() / n
    se = lambda p, m: 5 * np.sqrt(p * (1 - p) / m)
    assert abs(share(w == 1) - 0.3) < se(0.3, n) and abs(share(w == 2) - 0.2) < se(0.2, n)
    tail = k[w >= 3].sum()
    for x in (3, 4, 10):
        p = x ** -1.5 / z
        assert abs(k[w == x].sum() / tail - p) < se(p, tail)
    far = w >= 3 + TABLE                                # beyond the table: the continuous approximation
    p = special.zeta(1.5, 3 + TABLE) / z
    assert abs(k[far].sum() / tail - p) < se(p, tail)
    assert abs(k[w >= 2 * (3 + TABLE)].sum() / k[far].sum() - 2 ** -0.5) < se(2 ** -0.5, k[far].sum())


def test_verdict_words():
    t = lambda gof, r, p: {"alpha": 2.0, "gof_p": gof, "lognormal": {"R": r, "p": p}}
    assert verdict({"alpha": None}) == "too few values"
    assert verdict(t(0.5, -2.0, 0.05)) == verdict(t(0.01, -2.0, 0.05)) == "lognormal fits better"
    assert verdict(t(0.05, 2.0, 0.05)) == verdict(t(0.05, -0.5, 0.6)) == "not a power law"
    assert verdict(t(0.5, 2.0, 0.05)) == "consistent with a power law"
    assert verdict(t(0.5, -0.5, 0.6)) == "power law and lognormal both plausible"
    assert verdict(t(None, 0.5, 0.6)) == "goodness of fit not tested"


def test_too_few_values_and_json():
    r = power_law_tail(np.array([1, 2, 2, 3, 0]), replicates=10)
    assert r["alpha"] is None and r["n"] == 4 and r["verdict"] == "too few values"
    r = power_law_tail(planted(4, 500), replicates=5, seed=2)
    assert set(r) == {"alpha", "ci", "x_min", "n", "ks", "gof_p", "replicates", "lognormal", "verdict"}
    assert r == json.loads(json.dumps(r)) == power_law_tail(planted(4, 500), replicates=5, seed=2)


SAMPLES = {                          # fixed-seed samples; R is compared where its sign is clear (|R| > 1)
    "lognormal 0.5, 1.5": (lambda rng: np.ceil(rng.lognormal(0.5, 1.5, 20_000)), True),
    "power law 2.2 from 1": (lambda rng: discrete_power_law(20_000, 2.2, 1, rng), True),
    "power law 2.5 from 1": (lambda rng: discrete_power_law(20_000, 2.5, 1, rng), True),
    "lognormal 1, 1": (lambda rng: np.ceil(rng.lognormal(1.0, 1.0, 20_000)), True),
    # R near 0: the lognormal's limit sigma -> inf is the binned continuous power law, as good
    "body and power law": (lambda rng: planted(5, 5000), False),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_agrees_with_the_powerlaw_package(name):
    powerlaw = pytest.importorskip("powerlaw")
    make, clear = SAMPLES[name]
    x = make(np.random.default_rng(5))
    ours = power_law_tail(x, replicates=0)
    v, c = np.unique(x, return_counts=True)
    last = v[np.cumsum(c[::-1])[::-1] >= 50][-1]      # the same candidates: up to the last with 50 above
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, discrete=True, estimate_discrete=False, xmin=(1, last + 0.5),
                           parameter_ranges={"alpha": [1.001, 20]}, verbose=0)
        r, p = fit.distribution_compare("power_law", "lognormal", normalized_ratio=True)
    assert ours["x_min"] == fit.xmin and ours["n"] == fit.n
    assert ours["alpha"] == pytest.approx(fit.power_law.alpha, abs=1e-3)
    # powerlaw takes the distance just before each observed value only; ours also just after
    assert fit.power_law.D - 1e-5 <= ours["ks"] <= fit.power_law.D + 0.01
    assert clear == (abs(r) > 1)
    if clear:
        assert np.sign(ours["lognormal"]["R"]) == np.sign(r)
        assert ours["lognormal"]["R"] == pytest.approx(r, abs=0.05) and ours["lognormal"]["p"] == pytest.approx(p, abs=0.02)
