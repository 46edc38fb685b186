"""Parametric-bootstrap likelihood-ratio tests.

The chi-squared law of the LRT statistic fails when fitted rates sit on a bound (a rate of
0 is common on the Hub), so the statistic is also set against its law simulated under the
fitted smaller model: each replicate re-draws the states down the same forest, keeps the
observed states of roots and hides exactly the nodes that were unknown in the data, then
both models are refitted. p = (1 + #{LR* >= LR}) / (1 + N).
"""
from __future__ import annotations

import multiprocessing
from typing import Callable

import numpy as np

from ..genealogy.lineage import Lineage
from .parallel import cores
from .mk import MkFit, fit_mk, lrt, simulate_states, stationary

REFIT_TOL = 1e-3     # replicates: an iteration gaining less log-likelihood ends the search


def root_prior_vector(Q: np.ndarray, root_prior: str) -> np.ndarray:
    """What unobserved roots draw from in a replicate: uniform for ``equal``, the stationary
    distribution for ``stationary`` and ``fitzjohn`` (whose prior depends on the data)."""
    k = len(Q)
    return np.full(k, 1.0 / k) if root_prior == "equal" else stationary(Q)


def simulate_like(lineage: Lineage, states: np.ndarray, lengths: np.ndarray, Q: np.ndarray,
                  root_prior: str, rng: np.random.Generator) -> np.ndarray:
    """States drawn under Q on the forest of ``states``: observed roots keep their state, and
    the nodes unknown in ``states`` are unknown in the draw."""
    sim = simulate_states(lineage, Q, np.nan_to_num(lengths), root_prior_vector(Q, root_prior), rng,
                          fixed=np.where(lineage.parent < 0, states, -1))
    return np.where(states >= 0, sim, -1)


_JOB: tuple = ()            # (refit, datasets) for the forked workers of bootstrap_p


def _refit_one(i: int) -> float:
    refit, datasets = _JOB
    return refit(datasets[i])


def bootstrap_p(statistic: float, simulate: Callable[[np.random.Generator], object],
                refit: Callable[[object], float], replicates: int, seed: int,
                workers: int | None = None) -> tuple[float, np.ndarray]:
    """(p, the replicate statistics): ``simulate(rng)`` draws a dataset under the null fit,
    ``refit(data)`` returns its LR statistic (both models refitted). The datasets are drawn
    in order, then refitted on ``workers`` forked processes (default: one per core; in this
    process where the platform cannot fork), so the result does not depend on how many."""
    global _JOB
    rng = np.random.default_rng(seed)
    datasets = [simulate(rng) for _ in range(replicates)]
    workers = min(workers or cores(), replicates)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        null = np.array([refit(d) for d in datasets])
    else:
        _JOB = (refit, datasets)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                null = np.array(pool.map(_refit_one, range(replicates), chunksize=1))
        finally:
            _JOB = ()
    return float((1 + np.sum(null >= statistic - 1e-9)) / (1 + replicates)), null



def lrt_test(small, big, detects: str) -> dict:
    """The LRT of fit ``small`` against fit ``big`` as reported: statistic, df, p, detects."""
    stat, df, p = lrt(small, big)
    return {"statistic": stat, "df": df, "p": p, "detects": detects}


def lrt_text(t: dict) -> str:
    """One test of :func:`lrt_test` (and its bootstrap p, where computed) as text."""
    boot = f", bootstrap p = {t['bootstrap_p']:.3g} ({t['replicates']} replicates)" if "bootstrap_p" in t else ""
    return f"statistic {t['statistic']:.2f}, df {t['df']}, p = {t['p']:.3g}{boot}; detects {t['detects']}"


def bootstrap_lrt(lineage: Lineage, states, lengths, small: MkFit, big, replicates: int, seed: int,
                  statistic: float, groups=None) -> tuple[float, np.ndarray]:
    """Parametric-bootstrap p of the LRT of the fit ``small`` against model ``big`` (with
    ``groups``: one Q of ``big`` per edge group), both refitted with one start to within
    :data:`REFIT_TOL` of log-likelihood per iteration."""
    def simulate(rng):
        return simulate_like(lineage, states, lengths, small.Q, small.root_prior, rng)

    def refit(sim):
        fs = fit_mk(lineage, sim, lengths, small.model, small.root_prior, starts=1, k=small.k, tol=REFIT_TOL)
        fb = fit_mk(lineage, sim, lengths, big, small.root_prior, starts=1, k=small.k, groups=groups,
                    tol=REFIT_TOL)
        return lrt(fs, fb)[0]

    return bootstrap_p(statistic, simulate, refit, replicates, seed)
