"""Rates per relation type: one Mk Q per relation of the edge above a node (finetune,
adapter, quantized, merge), all sharing the root prior, tested against one Q for every
edge by a likelihood ratio (df = (R - 1) m) and, optionally, a parametric bootstrap under
the one-Q fit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..genealogy.lineage import Lineage
from ..sources.records import RELATIONS
from .bootstrap import bootstrap_lrt, lrt_test, lrt_text
from .mk import MkFit, fit_mk

DETECTS = "rates that differ by the relation type of the edge"


def relation_groups(lineage: Lineage, parent=None) -> tuple[np.ndarray, list[str]]:
    """(group of every node's edge, 0..R-1 over the relations present; -1 for roots; names),
    over the primary edges of ``parent`` (default the lineage's; a relation-restricted copy
    makes the nodes it cuts roots)."""
    parent = lineage.parent if parent is None else parent
    rel = np.where(parent >= 0, lineage.relation, -1).astype(np.int64)
    present = np.unique(rel[rel >= 0])
    code = np.full(len(RELATIONS), -1, np.int64)
    code[present] = np.arange(len(present))
    return np.where(rel >= 0, code[np.maximum(rel, 0)], -1), [RELATIONS[r] for r in present]


@dataclass
class RelationFit:
    fit: MkFit                 # Q (R, k, k), one per relation
    single: MkFit              # one Q for every edge
    relations: list[str]
    test: dict                 # statistic, df, p, detects[, bootstrap_p, replicates]
    edges: dict[str, int]      # edges per relation

    def to_json(self) -> dict:
        return {"relations": self.relations, "edges": self.edges, "loglik": self.fit.loglik,
                "n_params": self.fit.n_params, "aic": self.fit.aic, "at_bound": self.fit.at_bound,
                "Q": {r: q.tolist() for r, q in zip(self.relations, self.fit.Q)},
                "one_Q": {"loglik": self.single.loglik, "n_params": self.single.n_params,
                          "aic": self.single.aic},
                "lrt": {f"{self.fit.model} by relation vs one {self.fit.model}": self.test}}

    def lines(self, names: list[str]) -> list[str]:
        f, t = self.fit, self.test
        head = [f"{r} ({self.edges[r]:,} edges)" for r in self.relations]
        width = max(9, max(len(n) for n in names) + 2)
        out = ["", f"Rates per relation type ({f.model}, one Q per relation of the edge above a node, "
               f"shared root prior): log-likelihood {f.loglik:.2f}, {f.n_params} parameter(s), "
               f"AIC {f.aic:.1f} (one Q: {self.single.loglik:.2f}, AIC {self.single.aic:.1f})",
               "  Q side by side (row: parent state, column: child state): " + " | ".join(head)]
        for i, n in enumerate(names):
            cells = ["".join(f"{v:>{width}.3g}" for v in q[i]) for q in f.Q]
            out.append(f"  {n:>{width}}" + " |".join(cells))
        out.append(f"  columns: {', '.join(names)}")
        out.append(f"  LRT by relation vs one Q: {lrt_text(t)}")
        return out


def fit_by_relation(lineage: Lineage, states, lengths, model, k: int, root_prior: str = "equal",
                    starts: int = 2, seed: int = 1, single: MkFit | None = None,
                    bootstrap: int = 0) -> RelationFit:
    """Fit one Q of ``model`` per relation type and test it against one Q (``single``, fitted
    if not given); with ``bootstrap`` N, also the parametric-bootstrap p under the one-Q fit."""
    states = np.asarray(states, np.int64)
    groups, names = relation_groups(lineage)
    if len(names) < 2:
        raise ValueError("--by-relation needs edges of at least two relation types "
                         f"(found {', '.join(names) or 'none'})")
    if single is None:
        single = fit_mk(lineage, states, lengths, model, root_prior, starts=starts, seed=seed, k=k)
    fit = fit_mk(lineage, states, lengths, model, root_prior, starts=starts, seed=seed, k=k, groups=groups,
                 start=single.Q)
    test = lrt_test(single, fit, DETECTS)
    if bootstrap:
        test["bootstrap_p"], _ = bootstrap_lrt(lineage, states, lengths, single, model, bootstrap, seed,
                                               test["statistic"], groups)
        test["replicates"] = bootstrap
    counts = np.bincount(groups[lineage.parent >= 0], minlength=len(names))
    return RelationFit(fit, single, names, test, dict(zip(names, counts.tolist())))
