"""The reversible Mk models F81 and GTR: closed forms, detailed balance, exact gradients,
planted-parameter recovery and the size of the ARD vs GTR test of non-reversibility."""
import numpy as np
import pytest
from forests import forest, mk_data, random_tree

from phylohf.phylo import mk
from phylohf.phylo.mk import MkData, fit_mk, lrt, q_matrix, stationary
from phylohf.phylo.ratemodels import RateModel, n_params

PI = np.array([0.5, 0.3, 0.2])
S = np.array([0.6, 0.2, 0.9])          # exchangeabilities 0-1, 0-2, 1-2


def test_parameter_counts():
    assert [n_params(m, 4) for m in ("ER", "F81", "SYM", "GTR", "ARD")] == [1, 4, 6, 9, 12]
    assert n_params("GTR", 2) == n_params("ARD", 2) == n_params("F81", 2) == 2


def test_f81_transition_probabilities_closed_form():
    mu, t = 0.7, np.array([0.0, 0.3, 2.5])
    Q = q_matrix("F81", [mu], 3, PI)
    P = mk.transition_matrices(Q, t)
    e = np.exp(-mu * t)[:, None, None]
    assert np.allclose(P, e * np.eye(3) + (1 - e) * PI[None, None, :], atol=1e-12)


def test_gtr_detailed_balance_and_stationarity():
    Q = q_matrix("GTR", S, 3, PI)
    flux = PI[:, None] * Q
    assert np.allclose(flux, flux.T)
    assert np.allclose(stationary(Q), PI)
    assert Q[0, 1] == pytest.approx(S[0] * PI[1]) and Q[1, 0] == pytest.approx(S[0] * PI[0])
    # uniform frequencies: GTR is SYM with rates s / k
    assert np.allclose(q_matrix("GTR", S, 3, np.full(3, 1 / 3)), q_matrix("SYM", S / 3, 3))


def test_rate_model_maps_x_to_q():
    rm = RateModel("GTR", 3)
    x = np.r_[np.log(S), np.log(PI[1:] / PI[0])]
    assert np.allclose(rm.q(x), q_matrix("GTR", S, 3, PI))
    assert np.allclose(rm.split(x)[1], PI)
    assert np.allclose(rm.q(x + 0.4 * rm.scale), np.exp(0.4) * rm.q(x))


@pytest.mark.parametrize("few_lengths", [True, False])
@pytest.mark.parametrize("prior", ["equal", "stationary", "fitzjohn"])
@pytest.mark.parametrize("model", ["F81", "GTR"])
def test_gradient_matches_finite_differences(model, prior, few_lengths, monkeypatch):
    if not few_lengths:
        monkeypatch.setattr(mk, "_FEW_LENGTHS", 0)
    rng = np.random.default_rng(3)
    n, k = 40, 4
    parent = random_tree(n, rng)
    lin = forest(parent)
    lengths = rng.choice([0.3, 0.8, 1.5], n) if few_lengths else rng.uniform(0.05, 2.0, n)
    lengths = np.where(parent >= 0, lengths, np.nan)
    states = rng.integers(-1, k, n)
    data = MkData(lin, states, lengths, k=k)
    rm = RateModel(model, k)
    x = rng.normal(-0.5, 0.6, rm.m)
    cut, plan, known = mk._prepared(lin, states, lengths, k)
    ll, grad = mk._loglik_and_grad(cut, plan, rm, x, prior, known)
    f = lambda y: data.loglik(rm.q(y), prior)     # noqa: E731
    h = 1e-5
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(rm.m)])
    assert ll == pytest.approx(f(x), abs=1e-10)
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_gtr_recovers_planted_parameters_and_fits_are_nested():
    Q = q_matrix("GTR", S, 3, PI)
    lin, states, lengths = mk_data(Q, 6000, 0.2, np.random.default_rng(11), stationary(Q))
    fits = {m: fit_mk(lin, states, lengths, m, root_prior="stationary", starts=1, k=3)
            for m in ("ER", "F81", "SYM", "GTR", "ARD")}
    gtr = fits["GTR"]
    assert np.allclose(gtr.pi, PI, atol=0.05), gtr.pi
    assert np.allclose(gtr.rates, S, rtol=0.3), gtr.rates
    flux = gtr.pi[:, None] * gtr.Q
    assert np.allclose(flux, flux.T, atol=1e-12)             # fitted GTR is reversible
    assert gtr.at_bound == 0
    tol = 1e-3
    assert fits["F81"].loglik >= fits["ER"].loglik - tol
    assert fits["GTR"].loglik >= max(fits["SYM"].loglik, fits["F81"].loglik) - tol
    assert fits["ARD"].loglik >= fits["GTR"].loglik - tol
    assert lrt(fits["F81"], fits["GTR"])[1] == 2 and lrt(fits["GTR"], fits["ARD"])[1] == 1


def test_f81_recovers_planted_parameters():
    Q = q_matrix("F81", [0.8], 3, PI)
    lin, states, lengths = mk_data(Q, 5000, 0.2, np.random.default_rng(12), stationary(Q))
    fit = fit_mk(lin, states, lengths, "F81", root_prior="stationary", starts=1, k=3)
    assert np.allclose(fit.pi, PI, atol=0.05) and fit.rates[0] == pytest.approx(0.8, rel=0.2)


def test_ard_vs_gtr_holds_its_size_on_reversible_data():
    """Non-reversibility is not detected in reversible data (F81 and GTR processes with
    unequal frequencies) more often than alpha says, while ARD vs SYM, which detects
    asymmetric rates, rejects there most of the time."""
    pvalues = []
    for r in range(30):
        Q = q_matrix("GTR", S, 3, PI) if r % 2 else q_matrix("F81", [0.7], 3, PI)
        lin, states, lengths = mk_data(Q, 300, 0.2, np.random.default_rng(2000 + r), stationary(Q))
        sym, gtr, ard = (fit_mk(lin, states, lengths, m, starts=1, k=3) for m in ("SYM", "GTR", "ARD"))
        assert ard.loglik >= gtr.loglik - 1e-3
        pvalues.append((lrt(gtr, ard)[2], lrt(sym, ard)[2]))
    rate, asym = (np.array(pvalues) < 0.05).mean(axis=0)
    assert rate <= 0.1, f"false-positive rate of ARD vs GTR {rate:.3f}"      # measured 0.04
    assert asym >= 0.4, f"ARD vs SYM rejection rate {asym:.3f}"               # measured 0.60
