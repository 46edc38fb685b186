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
                                # of the random mask, and the same per non-random mask under "schemes"

    @property
    def conventions(self) -> str:
        return (f"Mk {self.fit.model} fitted by maximum likelihood, root prior {self.fit.root_prior}; "
                "known states clamp their node (internal nodes included), unknown ones are summed "
                "over; marginal posteriors by a two-pass (down, up) "
                "algorithm, valid for directional Q")


def _family_informed(lineage: Lineage, states: np.ndarray) -> np.ndarray:
    """Per node: its family holds a known state."""
    return np.bincount(lineage.root, weights=states >= 0, minlength=lineage.n)[lineage.root] > 0


def _check(lineage: Lineage, truth: np.ndarray, states: np.ndarray, hidden: np.ndarray, marg: Marginals,
           k: int) -> dict:
    """Scores of the reconstruction ``marg`` (made from ``states``) of the ``hidden`` nodes."""
    def scores(nodes):
        return {"Mk marginal": masking.score(marg.posterior[nodes], truth[nodes]),
                **{name: masking.score(prob, truth[nodes])
                   for name, prob in masking.baselines(lineage.parent, states, nodes, k).items()}}
    near = hidden[_family_informed(lineage, states)[hidden]]
    return {"hidden": int(len(hidden)), "with_relative": int(len(near)),
            "scores": {"with a visible relative": scores(near) if len(near) else None,
                       "all hidden": scores(hidden)}}


def _schemes(lineage: Lineage, truth: np.ndarray, fraction: float, seed: int) -> dict[str, tuple[str, np.ndarray]]:
    """The non-random masks: name -> (what it hides, hidden nodes); a mask that would hide
    nothing, or every known state, is left out."""
    from ..records import RELATIONS
    out = {f"relation:{r}": ("every known child whose primary edge is of relation type R",
                             masking.relation_mask(truth, lineage.relation, i)) for i, r in enumerate(RELATIONS)}
    out["authors"] = (f"every known model of random authors, up to {fraction:.0%}",
                      masking.author_mask(truth, masking.authors(lineage.ids), fraction,
                                          np.random.default_rng([seed, 2])))
    known = int((truth >= 0).sum())
    return {name: (what, h) for name, (what, h) in out.items() if 0 < len(h) < known}


def reconstruct(lineage: Lineage, truth: np.ndarray, k: int, lengths: np.ndarray, model="ER",
                root_prior: str = "equal", starts: int = 2, seed: int = 1, mask: float | None = None,
                scope: np.ndarray | None = None) -> Reconstruction:
    """Fit ``model`` to ``truth`` (-1 unknown) and reconstruct every node; with ``mask``, hide
    that fraction of the known states first and score their reconstruction against the
    copy-parent and majority baselines, over all hidden nodes and over those whose family
    still shows a known state (the others, mostly lone models, only the prior can guess);
    then the same for each non-random mask (:mod:`.masking`), each with its own fit.
    ``scope``: the nodes reported as imputed/uninformed."""
    states, hidden = (masking.mask(truth, mask, np.random.default_rng(seed)) if mask
                      else (truth, np.array([], np.int64)))
    fit = fit_mk(lineage, states, lengths, model, root_prior, starts=starts, seed=seed, k=k)
    marg = marginal(lineage, states, fit.Q, lengths, root_prior)
    checks = None
    if len(hidden):
        checks = _check(lineage, truth, states, hidden, marg, k)
        checks["schemes"] = {}
        for name, (what, nodes) in _schemes(lineage, truth, mask, seed).items():
            masked = truth.copy()
            masked[nodes] = -1
            f = fit_mk(lineage, masked, lengths, model, root_prior, starts=starts, seed=seed, k=k)
            checks["schemes"][name] = {"hides": what, **_check(
                lineage, truth, masked, nodes, marginal(lineage, masked, f.Q, lengths, root_prior), k)}
    informed = _family_informed(lineage, states)
    unknown = (truth < 0) if scope is None else (truth < 0) & scope
    return Reconstruction(fit, marg, states, np.flatnonzero(unknown & informed),
                          np.flatnonzero(unknown & ~informed), checks)
