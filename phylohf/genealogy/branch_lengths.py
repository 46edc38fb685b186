"""Branch lengths of the lineage forest: the length of the edge above every node.

* ``unit``: one generation per edge.
* ``days``: the child's creation date minus its parent's, in days, floored at
  ``FLOOR_DAYS`` (half a day). Children created the same day as their parent, or before it
  (re-uploads can predate the declared parent), are common on the Hub; a zero-length edge
  cannot carry a change, so under an Mk model one such edge with a change makes the whole
  likelihood zero. The floor says "very short, not impossible".
* ``hamming``: the genome distance, the number of traits present in one model and not
  the other (over all trait groups).

An edge whose length cannot be known (a missing date, e.g. of a placeholder parent; a
placeholder's genome for ``hamming``) gets the median of the known lengths of the same
kind (1 if none is known), neither forcing its ends to agree (0) nor cutting them apart,
and is counted in ``unknown`` so reports can say how many there were. Roots get NaN (no
edge above them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lineage import NO_DATE, Lineage

KINDS = ("unit", "days", "hamming")
FLOOR_DAYS = 0.5


@dataclass
class BranchLengths:
    kind: str
    length: np.ndarray     # float per node, NaN for roots
    unknown: np.ndarray    # bool per node: the length was not knowable (set to ``fill``)
    extra: np.ndarray      # float per reticulation edge (lineage.extra_*), same kind
    floored: int = 0       # ``days``: edges raised to FLOOR_DAYS (primary and reticulation)
    fill: float = 0.0      # the length given to edges of unknown length

    def describe(self) -> str:
        n = int(self.unknown.sum())
        what = {"unit": "one per generation",
                "days": f"days between creation dates (at least {FLOOR_DAYS:g} day)",
                "hamming": "genome (Hamming) distance", "tree": "as given in the tree"}[self.kind]
        notes = ([f"{self.floored:,} edge(s) of a child created the same day as its parent or "
                  f"before it set to {FLOOR_DAYS:g}"] if self.floored else []) + \
                ([f"{n:,} edge(s) of unknown length set to the median known length, {self.fill:.3g}"]
                 if n else [])
        return "; ".join([what, *notes])


def _edge_lengths(lineage: Lineage, kind: str, genome, child: np.ndarray,
                  parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(length, known) of the edges parent -> child; unknown lengths are NaN."""
    if kind == "unit":
        return np.ones(len(child)), np.ones(len(child), bool)
    if kind == "days":
        known = (lineage.created[child] != NO_DATE) & (lineage.created[parent] != NO_DATE)
        days = (lineage.created[child] - lineage.created[parent]) / 86_400.0
        return np.where(known, days, np.nan), known
    if genome is None:
        raise ValueError("hamming branch lengths need the genomes")
    g = genome.matrix.astype(np.int32).tocsr()
    sizes = np.asarray(g.sum(axis=1)).ravel()
    shared = np.asarray(g[child].multiply(g[parent]).sum(axis=1)).ravel()
    known = lineage.observed[child] & lineage.observed[parent]
    return np.where(known, sizes[child] + sizes[parent] - 2.0 * shared, np.nan), known


def branch_lengths(lineage: Lineage, kind: str = "unit", genome=None) -> BranchLengths:
    """Lengths of every node's edge to its primary parent, and of every reticulation edge
    (``genome`` is needed for ``hamming``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown branch lengths {kind!r}: expected one of {', '.join(KINDS)}")
    child = np.flatnonzero(lineage.parent >= 0)
    primary, known = _edge_lengths(lineage, kind, genome, child, lineage.parent[child])
    extra, extra_known = _edge_lengths(lineage, kind, genome, lineage.extra_child, lineage.extra_parent)
    floored = 0
    if kind == "days":
        floored = int((primary[known] < FLOOR_DAYS).sum() + (extra[extra_known] < FLOOR_DAYS).sum())
        primary, extra = np.maximum(primary, FLOOR_DAYS), np.maximum(extra, FLOOR_DAYS)
    fill = float(np.median(primary[known])) if known.any() else 1.0
    length = np.full(lineage.n, np.nan)
    unknown = np.zeros(lineage.n, bool)
    length[child], unknown[child] = np.where(known, primary, fill), ~known
    return BranchLengths(kind, length, unknown, np.where(extra_known, extra, fill), floored, fill)
