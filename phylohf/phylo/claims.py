"""The claims a report makes: one shape for every test, adjusted together.

A claim is a statement with the test behind it (statistic, p, the null it was set
against, replicates, effect = statistic minus its null mean, Kish's effective number of
families, and the same test without the family that contributes most). Across all claims
of one report the p-values get Benjamini-Hochberg q-values; a claim is *supported*
exactly when q < 0.05 and its effect has the claimed sign (positive).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.05


@dataclass
class Claim:
    id: str                    # stable name, e.g. "license_drift:restrictive_to_open"
    section: str
    statement: str             # what is claimed, in words
    statistic: float
    p: float
    null: str                  # what the statistic was set against
    replicates: int
    effect: float              # > 0 in the claimed direction
    n_eff: float | None = None
    leave_one_out: dict | None = None
    q: float | None = None
    supported: bool | None = None

    @classmethod
    def from_test(cls, id: str, section: str, statement: str, test) -> "Claim":
        """From a :class:`phylohf.phylo.null.NullTest`."""
        return cls(id, section, statement, test.statistic, test.p, test.model, test.replicates, test.effect,
                   test.n_eff, test.leave_one_out)

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def claim_tests(lineage, states, k: int, claims: dict, replicates: int, seed: int, section: str,
                kind: str = "SYM", parent=None) -> list[Claim]:
    """Claims about one character (states -1 unknown, else 0..k-1), each ``id: (statement,
    statistic)``, tested on the same replicates of the ``kind`` null fitted to it over the
    edges of ``parent`` (default the lineage's); none with ``replicates`` 0 or fewer than two
    states (nothing can change)."""
    from .null import fit_null, null_test
    if not replicates or not claims or k < 2:
        return []
    model = fit_null(lineage, states, k, kind, parent=parent, seed=seed)
    tests = null_test(lineage, states, model, {i: f for i, (_, f) in claims.items()}, replicates, seed, parent)
    return [Claim.from_test(i, section, claims[i][0], t) for i, t in tests.items()]


def adjust(claims: list[Claim]) -> list[Claim]:
    """Benjamini-Hochberg q over ``claims`` (in place) and their verdicts; returns them."""
    p = np.array([c.p for c in claims], float)
    ok = np.isfinite(p)
    q = np.full(len(p), np.nan)
    if ok.any():
        from scipy import stats
        q[ok] = stats.false_discovery_control(p[ok])
    for c, qi in zip(claims, q):
        c.q = float(qi) if np.isfinite(qi) else None
        c.supported = bool(c.q is not None and c.q < LEVEL and c.effect > 0)
    return claims


def meaning(claims: list[Claim]) -> str:
    """A section's "What it means" line: only supported claims are stated."""
    if not claims:
        return "What it means: descriptive only here; this section makes no claim."
    yes = [c for c in claims if c.supported]
    no = [c for c in claims if not c.supported]
    said = "; ".join(f"{c.statement} (q = {c.q:.2g}"
                     + (f", {c.n_eff:.0f} effective families" if c.n_eff else "")
                     + ("" if not c.leave_one_out else
                        f"; without {c.leave_one_out['family']}: p = {c.leave_one_out['p']:.2g}") + ")"
                     for c in yes)
    text = "What it means: " + (said if yes else "no claim of this section is supported")
    if no:
        text += "; not supported (q >= 0.05 or the wrong sign): " + ", ".join(c.id for c in no)
    return text + "."


def table(claims: list[Claim]) -> list[str]:
    """The claims as rows: id, statistic, null mean, p, q, verdict."""
    from ..text import table as grid
    rows = [[c.id, f"{c.statistic:.4g}", f"{c.statistic - c.effect:.4g}", f"{c.p:.3g}",
             "-" if c.q is None else f"{c.q:.3g}", "yes" if c.supported else "no"] for c in claims]
    return grid(["claim", "statistic", "null mean", "p", "q", "supported"], rows, right={1, 2, 3, 4})
