"""Text of the rate-model analyses: expected changes (``phylohf changes``) and correlated
evolution (``phylohf correlate``)."""
from __future__ import annotations

import numpy as np

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
