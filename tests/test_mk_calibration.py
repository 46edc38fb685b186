"""Calibration of the Mk fits: the ARD vs SYM likelihood-ratio test holds its size under a
symmetric Q, and ARD recovers planted rates within parametric-bootstrap error.

Note: the fits use one start. Before ``fit_mk`` rescaled each start along the overall
rate (a bounded 1-d search), L-BFGS-B's first step from a poor start sometimes ran off to
the saturated plateau (every rate at the upper bound, P(t) = 1/k), which inflated the
false-positive rate to ~0.18; these tests guard against that coming back.
"""
import numpy as np
from forests import mk_data

from phylohf.phylo.mk import fit_mk, lrt, q_matrix, simulate_states

K = 3
SYM_RATES = [0.3, 0.6, 0.45]
ARD_RATES = [0.2, 0.5, 0.1, 0.4, 0.3, 0.6]    # 0->1, 0->2, 1->0, 1->2, 2->0, 2->1


def test_lrt_ard_vs_sym_false_positive_rate():
    Q = q_matrix("SYM", SYM_RATES, K)
    reps, n, starts = 160, 500, 1
    pvalues = []
    for r in range(reps):
        lin, states, lengths = mk_data(Q, n, 0.2, np.random.default_rng(1000 + r))
        sym = fit_mk(lin, states, lengths, "SYM", starts=starts, k=K)
        ard = fit_mk(lin, states, lengths, "ARD", starts=starts, k=K)
        assert ard.loglik >= sym.loglik - 1e-3       # nested: ARD can only fit better
        stat, df, p = lrt(sym, ard)
        assert df == 3
        pvalues.append(p)
    rate = float(np.mean(np.array(pvalues) < 0.05))
    assert 0.02 <= rate <= 0.09, f"false-positive rate {rate:.3f} over {reps} replicates"


def test_ard_recovers_planted_rates():
    Q = q_matrix("ARD", ARD_RATES, K)
    lin, states, lengths = mk_data(Q, 5000, 0.2, np.random.default_rng(7))
    fit = fit_mk(lin, states, lengths, "ARD", starts=1, k=K)
    # parametric bootstrap from the fit: the spread of the log-rates
    boot = []
    for b in range(8):
        rng = np.random.default_rng(100 + b)
        bs = simulate_states(lin, fit.Q, np.nan_to_num(lengths), np.full(K, 1 / K), rng)
        bs[states < 0] = -1
        boot.append(np.log(fit_mk(lin, bs, lengths, "ARD", starts=1, k=K).rates))
    sd = np.std(boot, axis=0, ddof=1)
    err = np.abs(np.log(fit.rates) - np.log(ARD_RATES))
    assert (sd < 0.5).all(), f"bootstrap sd of log-rates {sd}"
    # 8 bootstrap replicates estimate the sd loosely: allow 4 sd, floored at 0.05 in log-rate
    assert (err <= np.maximum(4 * sd, 0.05)).all(), f"log errors {err}, bootstrap sd {sd}"
    assert np.allclose(fit.rates, ARD_RATES, rtol=0.5)
