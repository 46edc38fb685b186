"""Correlated evolution of two binary characters (Pagel 1994).

The pair (A, B) is one 4-state character, state 2a + b: 00, 01, 10, 11. The **independent**
model is two 2-state chains (4 rates: A's gain and loss, B's gain and loss, whatever the
other character is); the **dependent** model lets every rate depend on the other
character's state (8 rates); in both only one character changes at a time. A
likelihood-ratio test with df 4 (and a parametric bootstrap under the independent fit)
asks whether the characters evolve together. Both are Mk index models, fitted like any
other (exact gradients). A pair is known where both characters are, unknown otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..genealogy.lineage import Lineage
from ..result import Result
from .bootstrap import bootstrap_lrt, lrt_test
from .mk import MkFit, fit_mk

if TYPE_CHECKING:
    from ..genealogy.branch_lengths import BranchLengths

PAIRS = ("00", "01", "10", "11")
# rate numbers of the dependent model: (from, to) -> rate
DEPENDENT = np.array([[0, 1, 2, 0],
                      [3, 0, 0, 4],
                      [5, 0, 0, 6],
                      [0, 7, 8, 0]])
# independent: A 0->1 (00->10, 01->11) 1, A 1->0 2, B 0->1 (00->01, 10->11) 3, B 1->0 4
INDEPENDENT = np.array([[0, 3, 1, 0],
                        [4, 0, 0, 1],
                        [2, 0, 0, 3],
                        [0, 2, 4, 0]])
# the conditional rates: (label, (from, to) given the other character 0, given it 1)
CONDITIONAL = (("A 0->1", (0, 2), (1, 3)), ("A 1->0", (2, 0), (3, 1)),
               ("B 0->1", (0, 1), (2, 3)), ("B 1->0", (1, 0), (3, 2)))
DETECTS = "correlated evolution: the rates of one character depend on the state of the other"


def pair_states(a, b) -> np.ndarray:
    """2a + b where both are known (0/1), -1 elsewhere."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if ((a > 1) | (b > 1)).any():
        raise ValueError("correlate needs two binary (0/1) characters")
    return np.where((a >= 0) & (b >= 0), 2 * a + b, -1)


def pair_table(path, names: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(A, B per node, -1 unknown; the two column names) from a tab-separated table: header,
    then node, A, B (0/1; empty, NA or ? unknown)."""
    from ..genealogy.traits import table_rows
    header, rows = table_rows(path, ["node", "A", "B"])
    values: dict[str, tuple[int, int]] = {}
    for row in rows:
        if len(row) < 3:
            continue
        cells = [c.strip() for c in row[1:3]]
        if any(c not in ("0", "1", "", "NA", "?") for c in cells):
            raise ValueError(f"{path}: node {row[0]}: states must be 0, 1 or empty/NA/?, not {cells}")
        values[row[0]] = tuple(int(c) if c in ("0", "1") else -1 for c in cells)
    found = np.array([values.get(n, (-1, -1)) for n in names.tolist()], np.int64).reshape(-1, 2)
    if (found < 0).all():
        raise ValueError(f"{path}: none of its node names are in the tree with a state")
    return found[:, 0], found[:, 1], header[1:3]


@dataclass
class Correlation:
    independent: MkFit
    dependent: MkFit
    test: dict

    def to_json(self) -> dict:
        return {"states": list(PAIRS),
                "independent": {"loglik": self.independent.loglik, "n_params": 4, "aic": self.independent.aic,
                                "Q": self.independent.Q.tolist()},
                "dependent": {"loglik": self.dependent.loglik, "n_params": 8, "aic": self.dependent.aic,
                              "Q": self.dependent.Q.tolist()},
                "conditional_rates": self.conditional(),
                "lrt": {"dependent vs independent": self.test}}

    def conditional(self) -> dict:
        """Each character's rates given the other's state (dependent) and its rate (independent)."""
        qi, qd = self.independent.Q, self.dependent.Q
        return {label: {"independent": float(qi[z]), "other 0": float(qd[z]), "other 1": float(qd[o])}
                for label, z, o in CONDITIONAL}


def correlate(lineage: Lineage, a, b, lengths, root_prior: str = "equal", starts: int = 2,
              seed: int = 1, bootstrap: int = 0) -> Correlation:
    """Fit Pagel's independent and dependent models to binary characters ``a`` and ``b``."""
    states = pair_states(a, b)
    if (states < 0).all():
        raise ValueError("no node has both characters known")
    ind = fit_mk(lineage, states, lengths, INDEPENDENT, root_prior, starts=starts, seed=seed)
    dep = fit_mk(lineage, states, lengths, DEPENDENT, root_prior, starts=starts, seed=seed)
    test = lrt_test(ind, dep, DETECTS)
    if bootstrap:
        test["bootstrap_p"], _ = bootstrap_lrt(lineage, states, lengths, ind, DEPENDENT, bootstrap, seed,
                                               test["statistic"])
        test["replicates"] = bootstrap
    return Correlation(ind, dep, test)


@dataclass
class CorrelatedEvolution(Result):
    """``phylohf correlate``: Pagel's two models of traits A and B (``names``) and their test."""

    names: list[str]
    scope: str
    root_prior: str
    lengths: BranchLengths      # what both models were fitted on
    result: Correlation         # the fits and the LRT (:func:`correlate`)

    def to_dict(self) -> dict:
        return {"A": self.names[0], "B": self.names[1], "scope": self.scope, "root_prior": self.root_prior,
                "branch_lengths": self.lengths.kind, "correlate": self.result.to_json()}

    def text(self) -> str:
        """Pagel's independent and dependent models side by side, the conditional rates, the LRT."""
        from ..text import matrix
        from .bootstrap import lrt_text
        c, names, scope = self.result, self.names, self.scope
        conventions = (f"Pagel (1994) on pairs (A, B) known where both are; root prior {self.root_prior}; branch "
                       f"lengths {self.lengths.describe()}; both models fitted by maximum likelihood, only one "
                       "character changes at a time")
        t = c.test
        labels = [f"A{s[0]} B{s[1]}" for s in PAIRS]
        rows = [f"  {label}: independent {r['independent']:.3g}; dependent {r['other 0']:.3g} when the other "
                f"character is 0, {r['other 1']:.3g} when it is 1 "
                f"(ratio {r['other 1'] / max(r['other 0'], 1e-300):.3g})"
                for label, r in c.conditional().items()]
        return "\n".join([
            f"== Correlated evolution of A = {names[0]} and B = {names[1]} ({scope}) ==", "",
            f"Conventions: {conventions}; states written A0 B1 = (A absent, B present)", "",
            f"Independent model (4 rates): log-likelihood {c.independent.loglik:.2f}, AIC {c.independent.aic:.1f}",
            *matrix(c.independent.Q, labels, lambda v: f"{v:.3g}"), "",
            f"Dependent model (8 rates): log-likelihood {c.dependent.loglik:.2f}, AIC {c.dependent.aic:.1f}",
            *matrix(c.dependent.Q, labels, lambda v: f"{v:.3g}"), "",
            "Conditional rates (A = first character, B = second):", *rows, "",
            f"LRT dependent vs independent: {lrt_text(t)}"])
