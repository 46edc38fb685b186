"""Model comparison of the Mk rate models: AIC weights and likelihood-ratio tests, each
named after what it detects, with chi-squared and (optionally) parametric-bootstrap p.

Nesting: ER < F81 < GTR < ARD and ER < SYM < GTR (GTR with equal frequencies is SYM). Three
questions need three tests: are rates unequal between pairs (SYM vs ER), are rates
asymmetric (ARD vs SYM: a reversible process with unequal state frequencies has asymmetric
rates too, so this is no test of direction), and is the process non-reversible (ARD vs
GTR, df (k-1)(k-2)/2: detailed balance pi_i q_ij = pi_j q_ji fails, a net flow around
cycles of states). With k = 2 every chain is reversible (GTR = F81 = ARD): only
non-stationarity could tell a direction there, and no rate test does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..genealogy.lineage import Lineage
from .bootstrap import bootstrap_lrt, lrt_test, lrt_text
from .mk import MkFit, fit_mk
from .ratemodels import MODELS

TESTS = (
    ("ER", "SYM", "unequal rates between pairs of states (rates still symmetric)"),
    ("F81", "GTR", "exchangeabilities that differ by pair of states beyond the state frequencies"),
    ("SYM", "ARD", "asymmetric rates q_ij != q_ji (a reversible process with unequal state "
                   "frequencies has them too: not a test of direction)"),
    ("GTR", "ARD", "non-reversibility: detailed balance pi_i q_ij = pi_j q_ji fails (net flow "
                   "around cycles of states)"),
)
TWO_STATES = ("with 2 states every Markov chain is reversible (GTR = F81 = ARD, SYM = ER): no "
              "rate test can detect a direction; only non-stationarity (roots far from the "
              "equilibrium) could")


@dataclass
class Comparison:
    fits: dict[str, MkFit]
    weights: dict[str, float]                   # Akaike weights
    tests: dict[str, dict]                      # "BIG vs SMALL" -> statistic, df, p, detects[, bootstrap_p]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"models": {m: {"loglik": f.loglik, "n_params": f.n_params, "aic": f.aic,
                               "aic_weight": self.weights[m], "at_bound": f.at_bound,
                               "Q": f.Q.tolist(), **({"pi": f.pi.tolist()} if f.pi is not None else {})}
                           for m, f in self.fits.items()},
                "lrt": self.tests, "notes": self.notes}

    def lines(self) -> list[str]:
        out = ["", "Model comparison (AIC weight: the relative support of each model):"]
        for m, f in self.fits.items():
            out.append(f"  {m:>3}: log-likelihood {f.loglik:.2f}, {f.n_params} parameter(s), AIC {f.aic:.1f}, "
                       f"weight {self.weights[m]:.3f}" + (f", {f.at_bound} on a bound" if f.at_bound else ""))
        out.append("Likelihood-ratio tests (chi-squared p; bootstrap p where asked):")
        for name, t in self.tests.items():
            out.append(f"  {name}: {lrt_text(t)}")
        bound = sum(f.at_bound for f in self.fits.values())
        if bound:
            out.append(f"  {bound} fitted parameter(s) sit on a bound of the search: the chi-squared "
                       "law is then only approximate (use --bootstrap-lrt)")
        return out + [f"  Note: {n}" for n in self.notes]


def akaike_weights(aic: dict[str, float]) -> dict[str, float]:
    a = np.array(list(aic.values()))
    w = np.exp(-(a - a.min()) / 2)
    return dict(zip(aic, (w / w.sum()).tolist()))


def compare_models(lineage: Lineage, states, lengths, k: int, root_prior: str = "equal",
                   starts: int = 2, seed: int = 1, fits: dict[str, MkFit] | None = None,
                   bootstrap: int = 0) -> Comparison:
    """Fit ER, F81, SYM, GTR and ARD (reusing ``fits``), their Akaike weights and the tests
    of :data:`TESTS` that have degrees of freedom (none for GTR vs ARD when k = 2). With
    ``bootstrap`` N, each test also gets its parametric-bootstrap p (N replicates under the
    fitted smaller model, both models refitted with one start)."""
    states = np.asarray(states, np.int64)
    lengths = np.asarray(lengths, float)
    fits = dict(fits or {})
    for m in MODELS:                    # smallest first: each starts from its best nested fit
        if m not in fits:
            nested = [fits[s] for s, b, _ in TESTS if b == m and s in fits]
            start = max(nested, key=lambda f: f.loglik).Q if nested else None
            fits[m] = fit_mk(lineage, states, lengths, m, root_prior, starts=starts, seed=seed, k=k,
                             start=start)
    fits = {m: fits[m] for m in MODELS}
    tests, notes = {}, []
    for small, big, detects in TESTS:
        if fits[big].n_params <= fits[small].n_params:
            continue
        tests[f"{big} vs {small}"] = lrt_test(fits[small], fits[big], detects)
    if k == 2:
        notes.append(TWO_STATES)
    if bootstrap:
        for name, t in tests.items():
            big, small = name.split(" vs ")
            t["bootstrap_p"], _ = bootstrap_lrt(lineage, states, lengths, fits[small], big, bootstrap,
                                                seed, t["statistic"])
            t["replicates"] = bootstrap
    return Comparison(fits, akaike_weights({m: f.aic for m, f in fits.items()}), tests, notes)

