"""Edges with both ends known factor out of the Mk likelihood.

A node of known state separates its subtree from the rest of its tree, so an edge from a
known parent (state a) to a known child (state b) contributes log P(t)[a, b] alone, and the
child's subtree is a tree of its own below a known root. :func:`split_known` cuts those
edges: the pruning passes then run only over the edges that touch an unknown node, and the
cut edges are counted per edge class (group, length) and state pair, their term
sum N_c[a, b] log P_c[a, b] over the pairs that occur (with distinct lengths nearly every
edge is a class of its own: a dense (classes, k, k) table would be almost all zeros).
The cut children become roots of known state, which a root prior would weigh:
:meth:`KnownEdges.loglik` takes that weight back out. A known root with nothing left below
it (a lone model, or one all of whose children are known) is dropped too: its term is only
the root prior of its state, which :meth:`KnownEdges.loglik` adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..genealogy.lineage import Lineage
from .ratemodels import stationary


@dataclass
class KnownEdges:
    """The cut known -> known edges, counted by edge class and state pair (the entries)."""

    keys: np.ndarray        # (C,) edge class keys (group * L + length rank) with counts
    lu: np.ndarray          # the L distinct lengths the keys index
    cls: np.ndarray         # (E,) per entry: its class (index into keys)
    a: np.ndarray           # (E,) parent state
    b: np.ndarray           # (E,) child state
    counts: np.ndarray      # (E,) cut edges of class cls from state a to state b (> 0)
    lone: np.ndarray        # (k,) per state: the known roots dropped, nothing unknown below them
    cut_roots: np.ndarray   # (k,) per state: the cut children (roots now, which the pruning weighs)

    def __post_init__(self):
        key = self.keys[self.cls]
        self.group = key // max(len(self.lu), 1)        # per entry: its edge group
        self.t = self.lu[key % len(self.lu)] if len(self.lu) else np.zeros(len(key))   # and length

    @property
    def roots(self) -> np.ndarray:
        """(k,) per state: how many more times the root prior enters than the pruning gives it."""
        return self.lone - self.cut_roots

    def n_classes(self, group: int) -> int:
        """How many edge classes of ``group`` hold entries."""
        return int((self.keys // max(len(self.lu), 1) == group).sum())

    def loglik(self, p: np.ndarray, Q, root_prior: str) -> float:
        """The cut edges' log-likelihood given every entry's P_cls[a, b] ``p``, plus the root
        prior of the dropped known roots, less the one the pruning gives the cut children."""
        roots = self.roots
        on = roots != 0
        with np.errstate(divide="ignore"):
            ll = float(np.sum(self.counts * np.log(p)))
            if root_prior == "equal":
                return ll - roots.sum() * np.log(len(roots))
            if root_prior == "stationary":
                return ll + float(np.sum(roots[on] * np.log(stationary(Q)[on])))
        return ll                                   # fitzjohn: a known root weighs 1

    def weights(self, p: np.ndarray) -> np.ndarray:
        """d ll / d P per entry: N / P."""
        with np.errstate(divide="ignore"):
            return self.counts / p


class Reduced(NamedTuple):
    """The nodes the pruning still needs, renumbered 0..m-1, and the cut edges."""

    nodes: np.ndarray       # the kept nodes of the whole lineage, in their new order
    lineage: Lineage
    states: np.ndarray
    lengths: np.ndarray
    groups: np.ndarray | None
    known: KnownEdges


def split_known(lineage: Lineage, states: np.ndarray, lengths: np.ndarray, groups, key: np.ndarray,
                lu: np.ndarray, k: int, informative: np.ndarray) -> Reduced:
    """Cut the known -> known edges (``key`` and ``lu`` are :func:`mk.edge_keys` of the whole
    lineage, ``informative`` the nodes whose subtree holds a known state) and keep only the
    informative nodes the cut leaves attached: a cut child none of whose children is unknown
    is wholly in the counts, and so is a known root none of whose children is unknown."""
    parent = lineage.parent
    cut = np.flatnonzero((parent >= 0) & (states >= 0))
    cut = cut[states[parent[cut]] >= 0]
    ukey, inv = np.unique(key[cut].astype(np.int64), return_inverse=True)
    entry, counts = np.unique((inv * k + states[parent[cut]]) * k + states[cut], return_counts=True)
    par = parent.copy()
    par[cut] = -1
    # an unknown informative node keeps its edge (its first known descendant is reached from
    # an unknown parent), so it is what keeps a cut child attached
    attached = np.zeros(len(parent), bool)
    below = informative & (states < 0) & (par >= 0)
    attached[par[below]] = True
    keep = informative.copy()
    keep[cut[~attached[cut]]] = False
    lone = np.flatnonzero(informative & (parent < 0) & (states >= 0) & ~attached)
    keep[lone] = False
    nodes = np.flatnonzero(keep)
    new = np.full(len(parent), -1, np.int64)
    new[nodes] = np.arange(len(nodes))
    p = np.where(par[nodes] >= 0, new[np.maximum(par[nodes], 0)], -1)
    child = np.flatnonzero(p >= 0)
    rest = Lineage.from_edges(lineage.ids[nodes], lineage.observed[nodes], lineage.created[nodes], child,
                              p[child], np.ones(len(child), np.int64), np.zeros(len(child), np.int8))
    roots = cut[attached[cut]]
    known = KnownEdges(ukey, lu, entry // (k * k), entry // k % k, entry % k, counts.astype(float),
                       np.bincount(states[lone], minlength=k).astype(float),
                       np.bincount(states[roots], minlength=k).astype(float))
    return Reduced(nodes, rest, states[nodes], lengths[nodes], None if groups is None else np.asarray(groups)[nodes],
                   known)
