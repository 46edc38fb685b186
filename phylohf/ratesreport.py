"""Text of the rate-model analyses: expected changes (``phylohf changes``) and correlated
evolution (``phylohf correlate``)."""
from __future__ import annotations

import numpy as np

from .phylo.bootstrap import lrt_text
from .report import _matrix


def changes_report(summary: dict, names: list[str], trait: str, scope: str, conventions: str) -> str:
    """Expected changes over the forest (with CIs), per relation type and per family."""
    forest = summary["forest"]
    ci = lambda b, i, j: f"{b['total'][i][j]:.1f} [{b['low'][i][j]:.1f}, {b['high'][i][j]:.1f}]"  # noqa: E731
    fmt = ci if "low" in forest["jumps"] else (lambda b, i, j: f"{b['total'][i][j]:.1f}")    # noqa: E731
    lines = [f"== Expected changes of {trait} ({scope}) ==", "", f"Conventions: {conventions}", "",
             f"Edges counted (their subtree holds a known state): {summary['edges']:,}", "",
             "Expected parent -> child changes (posterior of each state pair, off the diagonal), "
             f"summed over the forest, with family-bootstrap 95% CIs ({summary['bootstrap']} replicates):",
             *_cells(forest["pairs"], names, fmt), "",
             "Expected jumps along the edges (Minin & Suchard; several per edge on long edges):",
             *_cells(forest["jumps"], names, fmt), ""]
    for rel, r in summary["relations"].items():
        total = np.asarray(r["jumps"]["total"]).sum()
        lines.append(f"  {rel}: {r['edges']:,} edges, {total:.1f} expected jumps "
                     f"({total / max(r['edges'], 1):.3f} per edge)")
    if summary["families"]:
        lines += ["", "Families with the most expected jumps:"]
        lines += [f"  {root}: {f['edges']:,} edges, {np.sum(f['jumps']):.1f} jumps"
                  for root, f in summary["families"].items()]
    return "\n".join(lines).rstrip()


def _cells(block: dict, names: list[str], cell) -> list[str]:
    """A matrix of ``cell(block, i, j)`` strings, diagonal blank."""
    k = len(names)
    grid = np.array([[("-" if i == j else cell(block, i, j)) for j in range(k)] for i in range(k)], object)
    return _matrix(grid, names, str)


def correlate_report(c, names: tuple[str, str], scope: str, conventions: str) -> str:
    """Pagel's independent and dependent models side by side, the conditional rates, the LRT."""
    from .phylo.correlate import PAIRS
    t = c.test
    labels = [f"A{s[0]} B{s[1]}" for s in PAIRS]
    rows = [f"  {label}: independent {r['independent']:.3g}; dependent {r['other 0']:.3g} when the other "
            f"character is 0, {r['other 1']:.3g} when it is 1 (ratio {r['other 1'] / max(r['other 0'], 1e-300):.3g})"
            for label, r in c.conditional().items()]
    return "\n".join([
        f"== Correlated evolution of A = {names[0]} and B = {names[1]} ({scope}) ==", "",
        f"Conventions: {conventions}; states written A0 B1 = (A absent, B present)", "",
        f"Independent model (4 rates): log-likelihood {c.independent.loglik:.2f}, AIC {c.independent.aic:.1f}",
        *_matrix(c.independent.Q, labels, lambda v: f"{v:.3g}"), "",
        f"Dependent model (8 rates): log-likelihood {c.dependent.loglik:.2f}, AIC {c.dependent.aic:.1f}",
        *_matrix(c.dependent.Q, labels, lambda v: f"{v:.3g}"), "",
        "Conditional rates (A = first character, B = second):", *rows, "",
        f"LRT dependent vs independent: {lrt_text(t)}"])
