"""Families: the trees of the primary forest, named by their root, with vectorised statistics."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lineage import NO_DATE, Lineage
from ..sources.records import RELATIONS
from ..result import Result, frame
from ..text import table


@dataclass
class Families:
    """One row per family (arrays), largest first."""

    root: np.ndarray           # node index of the root
    size: np.ndarray           # nodes, placeholders included
    observed: np.ndarray       # models with metadata
    depth: np.ndarray          # longest root-to-leaf path, in edges
    max_children: np.ndarray   # largest out-degree
    wiener: np.ndarray         # sum of path lengths over all node pairs
    relations: np.ndarray      # (families, len(RELATIONS)) edge counts, merges' extra edges included
    first_created: np.ndarray  # seconds since epoch, NO_DATE when no member has a date
    last_created: np.ndarray

    def __len__(self) -> int:
        return len(self.root)

    def rows(self, lineage: Lineage, top: int | None = None) -> list[dict]:
        """Families as JSON-ready dicts (the ``families --json`` schema)."""
        out = []
        for k in range(len(self) if top is None else min(top, len(self))):
            span = None
            if self.first_created[k] != NO_DATE:
                span = {"first": _iso(self.first_created[k]), "last": _iso(self.last_created[k])}
            out.append({
                "root": str(lineage.ids[self.root[k]]), "size": int(self.size[k]),
                "observed": int(self.observed[k]), "depth": int(self.depth[k]),
                "max_children": int(self.max_children[k]), "wiener": int(self.wiener[k]),
                "relations": {r: int(c) for r, c in zip(RELATIONS, self.relations[k])},
                "created": span})
        return out


@dataclass
class FamilyList(Result):
    """``phylohf families``: the ``top`` largest families (0: all eligible) of at least ``min_size`` nodes."""

    lineage: Lineage
    families: Families
    top: int = 20
    min_size: int = 1

    @property
    def eligible(self) -> int:
        return int((self.families.size >= self.min_size).sum())     # families are sorted by size

    def rows(self) -> list[dict]:
        return self.families.rows(self.lineage, min(self.top or self.eligible, self.eligible))

    def to_dict(self) -> dict:
        return {"families": self.rows()}

    def to_frame(self):
        return frame(self.rows())

    def text(self) -> str:
        top = min(self.top or self.eligible, self.eligible)
        return "\n".join([f"{len(self.families):,} families, {self.eligible:,} with at least {self.min_size} node(s)",
                          *families_table(self.lineage, self.families, top)])


def _iso(seconds: int) -> str:
    return np.datetime64(int(seconds), "s").astype(str) + "Z"


def wiener_index(lineage: Lineage, sizes: np.ndarray | None = None) -> np.ndarray:
    """Wiener index per node's family, indexed by root node: sum over edges of s * (N - s)."""
    s = lineage.subtree_sizes() if sizes is None else sizes
    fam_size = np.bincount(lineage.root, minlength=lineage.n)
    v = np.flatnonzero(lineage.parent >= 0)
    contrib = s[v] * (fam_size[lineage.root[v]] - s[v])
    w = np.zeros(lineage.n, np.int64)
    np.add.at(w, lineage.root[v], contrib)
    return w


def families(lineage: Lineage) -> Families:
    """Statistics of every family of ``lineage``, in O(n) array passes."""
    n, root = lineage.n, lineage.root
    roots = np.flatnonzero(lineage.parent < 0)
    size = np.bincount(root, minlength=n)
    observed = np.bincount(root, weights=lineage.observed, minlength=n).astype(np.int64)
    depth = np.zeros(n, np.int64)
    np.maximum.at(depth, root, lineage.depth)
    maxc = np.zeros(n, np.int64)
    np.maximum.at(maxc, root, lineage.out_degree())
    rel = np.zeros((n, len(RELATIONS)), np.int64)
    has = lineage.relation >= 0
    np.add.at(rel, (root[has], lineage.relation[has]), 1)
    np.add.at(rel, (root[lineage.extra_child], lineage.extra_relation), 1)
    dated = lineage.created != NO_DATE
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, NO_DATE)
    np.minimum.at(first, root[dated], lineage.created[dated])
    np.maximum.at(last, root[dated], lineage.created[dated])
    first[first == np.iinfo(np.int64).max] = NO_DATE
    order = roots[np.lexsort((roots, -size[roots]))]     # ties: node index (observed by id first)
    return Families(root=order, size=size[order], observed=observed[order], depth=depth[order],
                    max_children=maxc[order], wiener=wiener_index(lineage)[order],
                    relations=rel[order], first_created=first[order], last_created=last[order])


def families_table(lineage: Lineage, fams: Families, top: int = 20) -> list[str]:
    """The ``top`` largest families as a text table."""
    rows = []
    for f in fams.rows(lineage, top):
        rel = ", ".join(f"{r} {c}" for r, c in f["relations"].items() if c)
        rows.append([f["root"], f"{f['size']:,}", f"{f['observed']:,}", f["depth"],
                     f"{f['max_children']:,}", f"{f['wiener']:,}", rel or "-"])
    return table(["family root", "size", "observed", "depth", "max children", "Wiener", "edges"],
                  rows, right={1, 2, 3, 4, 5})
