"""Fit, reconstruct, check: the ancestral-state analysis that ``phylohf asr``, the license
audit and the full report share.

An Mk model is fitted by maximum likelihood to the known states (optionally after hiding a
fraction of them, :mod:`.masking`), then every node gets its marginal posterior. Unknown
nodes split into *imputed* (their family holds a known state) and *uninformed* (it holds
none: the posterior is the root prior).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lineage import Lineage
from . import masking
from .asr import Marginals, marginal
from .mk import MkFit, fit_mk


@dataclass
class Reconstruction:
    fit: MkFit
    marginals: Marginals
    states: np.ndarray          # the states the model saw (-1 unknown, hidden ones included)
    imputed: np.ndarray         # unknown nodes in scope whose family has a known state
    uninformed: np.ndarray      # unknown nodes in scope whose family has none
    checks: dict | None         # masking: counts and scores (subset -> method -> accuracy, log_loss, brier)

    @property
    def conventions(self) -> str:
        return (f"Mk {self.fit.model} fitted by maximum likelihood, root prior {self.fit.root_prior}; "
                "known states clamp their node (internal nodes included), unknown ones (undeclared, "
                "placeholders) are summed over; marginal posteriors by a two-pass (down, up) "
                "algorithm, valid for directional Q")


def reconstruct(lineage: Lineage, truth: np.ndarray, k: int, lengths: np.ndarray, model="ER",
                root_prior: str = "equal", starts: int = 2, seed: int = 1, mask: float | None = None,
                scope: np.ndarray | None = None) -> Reconstruction:
    """Fit ``model`` to ``truth`` (-1 unknown) and reconstruct every node; with ``mask``, hide
    that fraction of the known states first and score their reconstruction against the
    copy-parent and majority baselines, over all hidden nodes and over those whose family
    still shows a known state (the others, mostly lone models, only the prior can guess).
    ``scope``: the nodes reported as imputed/uninformed."""
    states, hidden = (masking.mask(truth, mask, np.random.default_rng(seed)) if mask
                      else (truth, np.array([], np.int64)))
    fit = fit_mk(lineage, states, lengths, model, root_prior, starts=starts, seed=seed, k=k)
    marg = marginal(lineage, states, fit.Q, lengths, root_prior)
    informed = np.bincount(lineage.root, weights=states >= 0, minlength=lineage.n)[lineage.root] > 0
    checks = None
    if len(hidden):
        def scores(nodes):
            return {"Mk marginal": masking.score(marg.posterior[nodes], truth[nodes]),
                    **{name: masking.score(prob, truth[nodes])
                       for name, prob in masking.baselines(lineage.parent, states, nodes, k).items()}}
        near = hidden[informed[hidden]]
        checks = {"hidden": int(len(hidden)), "with_relative": int(len(near)),
                  "scores": {"with a visible relative": scores(near) if len(near) else None,
                             "all hidden": scores(hidden)}}
    unknown = (truth < 0) if scope is None else (truth < 0) & scope
    return Reconstruction(fit, marg, states, np.flatnonzero(unknown & informed),
                          np.flatnonzero(unknown & ~informed), checks)
