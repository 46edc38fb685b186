"""Branch lengths of the lineage forest: the length of the edge above every node.

* ``unit``: one generation per edge.
* ``days``: the child's creation date minus its parent's, in days, clamped at zero
  (re-uploads can predate the declared parent).
* ``hamming``: the genome distance, the number of traits present in one model and not
  the other (over all trait groups).

An edge whose length cannot be known (a missing date; a placeholder's genome for
``hamming``) gets length 0 and is counted in ``unknown``, so exports stay complete and
reports can say how many there were. Roots get NaN (no edge above them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lineage import NO_DATE, Lineage

KINDS = ("unit", "days", "hamming")


@dataclass
class BranchLengths:
    kind: str
    length: np.ndarray     # float per node, NaN for roots
    unknown: np.ndarray    # bool per node: the length was not knowable and is 0
    extra: np.ndarray      # float per reticulation edge (lineage.extra_*), same kind

    def describe(self) -> str:
        n = int(self.unknown.sum())
        what = {"unit": "one per generation", "days": "days between creation dates",
                "hamming": "genome (Hamming) distance", "tree": "as given in the tree"}[self.kind]
        return what + (f"; {n:,} edge(s) of unknown length written as 0" if n else "")


def _edge_lengths(lineage: Lineage, kind: str, genome, child: np.ndarray,
                  parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(length, unknown) of the edges parent -> child."""
    if kind == "unit":
        return np.ones(len(child)), np.zeros(len(child), bool)
    if kind == "days":
        known = (lineage.created[child] != NO_DATE) & (lineage.created[parent] != NO_DATE)
        days = (lineage.created[child] - lineage.created[parent]) / 86_400.0
        return np.where(known, np.maximum(days, 0.0), 0.0), ~known
    if genome is None:
        raise ValueError("hamming branch lengths need the genomes")
    g = genome.matrix.astype(np.int32).tocsr()
    sizes = np.asarray(g.sum(axis=1)).ravel()
    shared = np.asarray(g[child].multiply(g[parent]).sum(axis=1)).ravel()
    known = lineage.observed[child] & lineage.observed[parent]
    return np.where(known, sizes[child] + sizes[parent] - 2 * shared, 0.0), ~known


def branch_lengths(lineage: Lineage, kind: str = "unit", genome=None) -> BranchLengths:
    """Lengths of every node's edge to its primary parent, and of every reticulation edge
    (``genome`` is needed for ``hamming``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown branch lengths {kind!r}: expected one of {', '.join(KINDS)}")
    child = np.flatnonzero(lineage.parent >= 0)
    length = np.full(lineage.n, np.nan)
    unknown = np.zeros(lineage.n, bool)
    length[child], unknown[child] = _edge_lengths(lineage, kind, genome, child, lineage.parent[child])
    extra, _ = _edge_lengths(lineage, kind, genome, lineage.extra_child, lineage.extra_parent)
    return BranchLengths(kind, length, unknown, extra)
