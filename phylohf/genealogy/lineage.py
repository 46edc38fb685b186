"""The lineage forest as index arrays (castor style): no per-node objects, no recursion.

Nodes are the observed models (sorted by id) followed by *placeholders*: parents that
are referenced but absent from the data (unobserved, traits unknown). Each model's
*primary* parent is its first parent by the Hub's rule (the Hub's ``baseModels``, else
its relation tags, else the card; see :mod:`phylohf.sources.normalize`), every reference resolved
to the model whose id matches without regard to case (see
:meth:`phylohf.store.database.Store.index_lineage`); further parents of merges are kept as
reticulation edges (``extra_*``). Cycles among primary edges are broken deterministically: in each
cycle, the member created earliest (unknown dates last, then smallest id) loses its
primary parent and becomes a root; those nodes are listed in ``cut``.

All traversals are vectorised: pointer jumping for roots and depths (O(n log depth)),
CSR arrays for children, and level-by-level passes for subtree sizes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sources.records import NO_DATE, RELATIONS


def _jump(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointer jumping: (top ancestor, distance to it, converged mask) for every node.

    Nodes on a cycle, or leading into one, do not converge within ceil(log2 n) + 1 rounds.
    """
    n = len(parent)
    idx = np.arange(n)
    anc = np.where(parent >= 0, parent, idx)
    dist = (parent >= 0).astype(np.int64)
    for _ in range(int(np.ceil(np.log2(max(n, 2)))) + 1):
        nxt = anc[anc]
        if np.array_equal(nxt, anc):
            break
        dist = dist + dist[anc]
        anc = nxt
    return anc, dist, parent[anc] < 0


def levels(depth: np.ndarray) -> list[np.ndarray]:
    """Nodes grouped by ``depth``, shallowest first."""
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def subtree_sizes(parent: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Nodes in the subtree of every node (itself included) of any forest given as parent
    indices and depths, one vectorised step per level."""
    size = np.ones(len(parent), np.int64)
    for nodes in reversed(levels(depth)[1:]):
        np.add.at(size, parent[nodes], size[nodes])
    return size


def _break_cycles(parent: np.ndarray, created: np.ndarray, stuck: np.ndarray) -> list[int]:
    """Cut one primary edge per cycle among the ``stuck`` nodes; returns the cut nodes."""
    cut: list[int] = []
    state = {int(v): 0 for v in np.flatnonzero(stuck)}      # 0 unseen, 1 on path, 2 done
    for start in list(state):
        path = []
        v = start
        while v >= 0 and state.get(v, 2) == 0:
            state[v] = 1
            path.append(v)
            v = int(parent[v])
        if v >= 0 and state.get(v) == 1:                     # closed a new cycle at v
            cycle = path[path.index(v):]
            key = [(created[u] == NO_DATE, created[u], u) for u in cycle]
            victim = cycle[key.index(min(key))]
            parent[victim] = -1
            cut.append(victim)
        for u in path:
            state[u] = 2
    return sorted(cut)


@dataclass
class Lineage:
    """The forest of primary parents plus merge reticulations, over node indices."""

    ids: np.ndarray            # object array of model ids, observed first, then placeholders
    observed: np.ndarray       # bool: has metadata
    created: np.ndarray        # int64 seconds since epoch, NO_DATE when unknown
    parent: np.ndarray         # int64 primary parent, -1 for roots
    relation: np.ndarray       # int8 index into RELATIONS of the primary edge, -1 for roots
    extra_child: np.ndarray    # reticulation edges (further parents of merges)
    extra_parent: np.ndarray
    extra_relation: np.ndarray
    cut: np.ndarray            # nodes whose primary edge was cut to break a cycle
    root: np.ndarray           # root (family) of every node
    depth: np.ndarray          # generations below the root
    child_ptr: np.ndarray      # CSR: children of v are child_idx[child_ptr[v]:child_ptr[v+1]]
    child_idx: np.ndarray

    @classmethod
    def from_edges(cls, ids, observed, created, child, parent, pos, relation) -> "Lineage":
        """Build from declared edges: ``pos`` 1 is the primary parent, higher are extra;
        ``relation`` holds indices into RELATIONS."""
        n = len(ids)
        child, parent, pos = (np.asarray(a, np.int64) for a in (child, parent, pos))
        rel = np.asarray(relation, np.int8)
        primary = pos == 1
        par = np.full(n, -1, np.int64)
        par[child[primary]] = parent[primary]
        prel = np.full(n, -1, np.int8)
        prel[child[primary]] = rel[primary]
        created = np.asarray(created, np.int64)
        _, _, ok = _jump(par)
        cut = _break_cycles(par, created, ~ok) if not ok.all() else []
        prel[cut] = -1
        anc, dist, _ = _jump(par)
        order = np.argsort(par, kind="stable")
        first = np.searchsorted(par[order], 0)
        counts = np.bincount(par[par >= 0], minlength=n)
        return cls(ids=np.asarray(ids, object), observed=np.asarray(observed, bool), created=created,
                   parent=par, relation=prel, extra_child=child[~primary],
                   extra_parent=parent[~primary], extra_relation=rel[~primary],
                   cut=np.asarray(cut, np.int64), root=anc, depth=dist,
                   child_ptr=np.concatenate([[0], np.cumsum(counts)]), child_idx=order[first:])

    @classmethod
    def from_store(cls, store) -> "Lineage":
        c = store.lineage_columns()
        return cls.from_edges(c["ids"], c["observed"], c["created"], c["child"], c["parent"],
                              c["pos"], c["relation"])

    # -- shape -----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.parent)

    @property
    def n_observed(self) -> int:
        return int(self.observed.sum())

    def out_degree(self) -> np.ndarray:
        return np.diff(self.child_ptr)

    def children(self, v: int) -> np.ndarray:
        return self.child_idx[self.child_ptr[v]:self.child_ptr[v + 1]]

    def levels(self) -> list[np.ndarray]:
        """Nodes grouped by depth, shallowest first (one vectorised step per level)."""
        return levels(self.depth)

    def subtree_sizes(self) -> np.ndarray:
        """Number of nodes in the subtree of every node (itself included)."""
        return subtree_sizes(self.parent, self.depth)

    def node(self, model_id: str) -> int:
        """Node index of ``model_id``."""
        hits = np.flatnonzero(self.ids == model_id)
        if not len(hits):
            raise ValueError(f"no model {model_id!r} in the store")
        return int(hits[0])

    def family_root(self, model_id: str) -> int:
        """Node index of ``model_id``, which must be the root of its family."""
        node = self.node(model_id)
        root = int(self.root[node])
        if root != node:
            raise ValueError(f"{model_id!r} is not a family root; its family is {self.ids[root]!r}")
        return root

    def index(self) -> dict[str, int]:
        """Model id -> node index."""
        return {m: i for i, m in enumerate(self.ids)}

    def edge_count(self) -> dict[str, int]:
        """Edges per relation: primary plus reticulation."""
        rel = np.concatenate([self.relation[self.relation >= 0], self.extra_relation])
        counts = np.bincount(rel, minlength=len(RELATIONS))
        return {r: int(c) for r, c in zip(RELATIONS, counts)}
