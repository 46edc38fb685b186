"""Fit, reconstruct, check: the ancestral-state analysis that ``phylohf asr``, the license
audit and the full report share.

An Mk model is fitted by maximum likelihood to the known states (optionally after hiding a
fraction of them, :mod:`.masking`), then every node gets its marginal posterior. Unknown
nodes split into *imputed* (their family holds a known state) and *uninformed* (it holds
none: the posterior is the root prior).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..genealogy.lineage import Lineage
from ..result import Result, frame
from . import masking
from .asr import Marginals, marginal
from .mk import MkFit, fit_mk

if TYPE_CHECKING:
    from ..genealogy.branch_lengths import BranchLengths
    from .asr import Joint
    from .byrelation import RelationFit
    from .compare import Comparison
    from .rateclasses import RateClassFit


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
    from ..sources.records import RELATIONS
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


@dataclass
class AncestralStates(Result):
    """``phylohf asr``: a trait's reconstruction, with the optional model tests (``compare``,
    ``by_relation``, ``rate_classes``) and the other method (``joint`` or ``parsimony``)."""

    trait: str
    scope: str
    names: list[str]
    ids: np.ndarray             # model id of every node
    truth: np.ndarray           # the known states (-1 unknown)
    nodes: np.ndarray           # the nodes in scope, reported
    lengths: BranchLengths      # what the model was fitted on
    reconstruction: Reconstruction
    conventions: str
    compare: Comparison | None = None           # --compare
    by_relation: RelationFit | None = None      # --by-relation
    rate_classes: RateClassFit | None = None    # --rate-classes
    joint: Joint | None = None                  # --method joint
    parsimony: tuple | None = None              # --method parsimony: (Fitch state sets, changes)

    @property
    def fit(self) -> MkFit:
        return self.reconstruction.fit

    @property
    def loglik(self) -> float:
        return self.fit.loglik

    @property
    def Q(self) -> np.ndarray:
        return self.fit.Q

    @property
    def posteriors(self) -> np.ndarray:
        """(nodes in scope, states) marginal posterior probabilities."""
        return self.reconstruction.marginals.posterior[self.nodes]

    def _nodes(self, digits: int | None = None) -> dict[str, dict]:
        """Model id -> observed and the posterior of each state (rounded to ``digits``)."""
        p = self.posteriors if digits is None else self.posteriors.round(digits)
        keys = ("observed", *self.names)
        columns = [(self.truth[self.nodes] >= 0).tolist(), *p.T.tolist()]
        return dict(zip(map(str, self.ids[self.nodes].tolist()), [dict(zip(keys, v)) for v in zip(*columns)]))

    def to_dict(self) -> dict:
        fit, names, nodes = self.fit, self.names, self.nodes
        out = {"trait": self.trait, "scope": self.scope, "model": fit.model, "states": names,
               "loglik": fit.loglik, "aic": fit.aic, "Q": fit.Q.tolist(), "root_prior": fit.root_prior,
               "at_bound": fit.at_bound, **({"pi": fit.pi.tolist()} if fit.pi is not None else {}),
               "branch_lengths": self.lengths.kind, "mask_check": self.reconstruction.checks,
               "nodes": self._nodes(6)}
        if self.joint is not None:
            j = self.joint
            out["joint"] = {"loglik": j.loglik, "nodes": {str(self.ids[v]): names[j.state[v]] for v in nodes.tolist()}}
        if self.parsimony is not None:
            sets, changes = self.parsimony
            out["parsimony"] = {"changes": changes, "nodes": {
                str(self.ids[v]): [names[s] for s in np.flatnonzero(sets[v])] for v in nodes.tolist()}}
        if self.compare is not None:
            out["compare"] = self.compare.to_json()
        if self.by_relation is not None:
            out["by_relation"] = self.by_relation.to_json()
        if self.rate_classes is not None:
            out["rate_classes"] = self.rate_classes.to_json(self.ids)
        return out

    def to_frame(self):
        """One row per node in scope: id, observed, the posterior of each state."""
        return frame([{"id": i, **row} for i, row in self._nodes().items()])

    def text(self) -> str:
        r, names = self.reconstruction, self.names
        lines = [*(self.compare.lines() if self.compare is not None else []),
                 *(self.by_relation.lines(names) if self.by_relation is not None else []),
                 *(self.rate_classes.lines() if self.rate_classes is not None else [])]
        imputed = r.imputed
        if self.joint is not None:
            per_state = np.bincount(self.joint.state[imputed], minlength=len(names))
            lines += ["", f"Joint reconstruction (Pupko): log-probability {self.joint.loglik:.2f}; imputed nodes "
                      "by state: " + ", ".join(f"{names[s]} {c:,}" for s, c in enumerate(per_state) if c)]
        if self.parsimony is not None:
            sets, changes = self.parsimony
            unique = int((sets[imputed].sum(axis=1) == 1).sum())
            lines += ["", f"Fitch parsimony: {changes:,} changes at least; {unique:,} of {len(imputed):,} "
                      "imputed nodes have a single most-parsimonious state"]
        text = _report(self.fit, r.marginals, names, self.trait, self.scope, self.conventions, imputed,
                       r.uninformed, r.checks)
        return text + ("\n" + "\n".join(lines) if lines else "")


def ancestral_states(lineage: Lineage, truth: np.ndarray, names: list[str], lengths, trait: str, scope: str,
                     scope_mask: np.ndarray | None = None, model: str = "ER", root_prior: str = "equal",
                     starts: int = 2, seed: int = 1, mask: float | None = None, compare: bool = False,
                     by_relation: bool = False, rate_classes: int = 0, bootstrap_lrt: int = 0,
                     method: str = "marginal", note: str = "") -> AncestralStates:
    """:func:`reconstruct` ``truth`` on ``lengths`` (a :class:`~phylohf.genealogy.branch_lengths.BranchLengths`),
    then what ``phylohf asr`` adds on request: ``compare`` (ER, F81, SYM, GTR, ARD and their
    LRTs), ``by_relation`` (one Q per relation type), ``rate_classes`` (hidden rate classes of
    parents), ``method`` joint or parsimony besides the marginals. ``note`` ends the conventions."""
    k, length = len(names), lengths.length
    r = reconstruct(lineage, truth, k, length, model, root_prior, starts=starts, seed=seed, mask=mask,
                    scope=scope_mask)
    fit, states = r.fit, r.states
    out = AncestralStates(trait, scope, names, lineage.ids, truth,
                          np.arange(lineage.n) if scope_mask is None else np.flatnonzero(scope_mask), lengths, r,
                          r.conventions + f"; branch lengths {lengths.describe()}" + note)
    if compare:
        from .compare import compare_models
        out.compare = compare_models(lineage, states, length, k, root_prior, starts=starts, seed=seed,
                                     fits={fit.model: fit}, bootstrap=bootstrap_lrt)
    if by_relation:
        from .byrelation import fit_by_relation
        out.by_relation = fit_by_relation(lineage, states, length, fit.model, k, root_prior, starts=starts,
                                          seed=seed, single=fit, bootstrap=bootstrap_lrt)
    if rate_classes:
        from .rateclasses import fit_rate_classes
        out.rate_classes = fit_rate_classes(lineage, states, length, fit.model, k, rate_classes, root_prior,
                                            starts=starts, seed=seed, single=fit, bootstrap=bootstrap_lrt)
    if method == "joint":
        from .asr import joint
        out.joint = joint(lineage, states, fit.Q, length, root_prior)
    elif method == "parsimony":
        from .asr import fitch
        out.parsimony = fitch(lineage, states, k)
    return out


SCORE_COLUMNS = ("accuracy", "log-loss", "Brier", "all: accuracy", "log-loss", "Brier")


def _score_rows(check: dict) -> list[list[str]]:
    """One row per method of a masking check: scores with a visible relative, then over all hidden."""
    near, every = check["scores"]["with a visible relative"], check["scores"]["all hidden"]
    cells = lambda s: [f"{s['accuracy']:.3f}", f"{s['log_loss']:.3f}", f"{s['brier']:.3f}"]  # noqa: E731
    return [[name, *(cells(near[name]) if near else ["-"] * 3), *cells(every[name])] for name in every]


def _report(fit, marg, names: list[str], trait: str, scope: str, conventions: str,
            imputed: np.ndarray, uninformed: np.ndarray, checks: dict[str, dict[str, float]] | None) -> str:
    """A fitted Mk model, its rate matrix and the reconstruction (imputation) of unknown states."""
    from ..text import table
    from ..text import matrix
    lines = [f"== Ancestral states of {trait} ({scope}) ==", "", f"Conventions: {conventions}", "",
             f"Mk model {fit.model}: log-likelihood {fit.loglik:.2f}, {fit.n_params} rate(s), "
             f"AIC {fit.aic:.1f}" + (f", {fit.at_bound} on a bound of the search" if fit.at_bound else ""),
             *(["Stationary frequencies: " + ", ".join(f"{n} {p:.3f}" for n, p in zip(names, fit.pi))]
               if fit.pi is not None else []), "", "Q (rates per unit branch length):",
             *matrix(fit.Q, names, lambda v: f"{v:.3g}"), ""]
    if len(imputed) + len(uninformed):
        lines.append(f"Nodes without a known state: {len(imputed) + len(uninformed):,}; "
                     f"{len(uninformed):,} of them have no relative with a known state (posterior = root prior)")
    if len(imputed):
        best = marg.posterior[imputed].max(axis=1)
        per_state = np.bincount(marg.map_state[imputed], minlength=len(names))
        lines += [f"Imputed from relatives: {len(imputed):,}; most probable state's probability median "
                  f"{np.median(best):.2f}, {np.mean(best >= 0.9):.0%} at 0.9 or more",
                  "  by most probable state: " + ", ".join(f"{names[s]} {c:,}" for s, c in
                                                         enumerate(per_state) if c), ""]
    if checks:
        lines += [f"Masking check: {checks['hidden']:,} known states hidden at random and reconstructed; "
                  f"{checks['with_relative']:,} of them keep a visible relative in their family (the "
                  "others, mostly lone models, only the prior can guess):",
                  *table(["method", *SCORE_COLUMNS], _score_rows(checks), right=set(range(1, 7)))]
        if checks.get("schemes"):
            rows = [[name, f"{c['hidden']:,}", f"{c['with_relative']:,}", *row]
                    for name, c in checks["schemes"].items() for row in _score_rows(c)]
            hides = {name.split(":")[0] + (":R" if ":" in name else ""): c["hides"]
                     for name, c in checks["schemes"].items()}
            lines += ["", "Masks not at random (on the Hub, undeclared is not missing at random): "
                      + "; ".join(f"{name} hides {what}" for name, what in hides.items())
                      + "; each refitted on what stays visible:",
                      *table(["mask", "hidden", "w/ relative", "method", *SCORE_COLUMNS], rows,
                             right={1, 2, *range(4, 10)})]
    return "\n".join(lines).rstrip()
