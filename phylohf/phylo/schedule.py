"""Orders for the level-wise passes whose number of steps does not grow with depth.

A pass that visits one depth level at a time costs one vectorised step per level, so a
lineage a million generations deep costs a million steps. Two facts remove that cost:

* **Known states cut the tree.** Given a node's known state, its subtree and the rest of the
  tree are independent: the message a known node sends to its parent is a column of P,
  whatever lies below it, and the outside message its children receive is a row of P. The
  sum-product passes therefore only need each node after (down) or before (up) its
  *unknown* relatives: :func:`cut_levels` numbers the nodes by their distance to the
  nearest known proper ancestor, so the number of steps is the longest run of unknown
  nodes, not the depth (the likelihood of each cut piece is summed apart).
* **A draw down the tree is a composition of maps.** Where states must be drawn through
  every generation (simulation), :class:`Descent` cuts the depth into bands of about
  sqrt(depth) levels: within every band at once it composes each node's map from the
  state at the band's top (one step per level of a band), then applies the composed maps
  band after band: about 2 sqrt(depth) steps, with exactly the draws of a level-by-level
  descent.

Marking ancestors or descendants of a set uses pointer doubling (log depth steps).
"""
from __future__ import annotations

import numpy as np

from ..genealogy.lineage import _jump

BAND = 64         # depths up to this many levels are drawn level by level (one band)


def cut_levels(parent: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per node: 0 at roots, else 1 plus its parent's level when the parent is unknown and
    1 when it is known (the forest cut below every known node)."""
    up = np.maximum(parent, 0)
    cut = np.where((parent >= 0) & ~known[up], parent, -1)
    top, dist, _ = _jump(cut)
    return dist + (parent[top] >= 0)


def _square(jump: np.ndarray) -> np.ndarray:
    """The 2^(r+1)-th ancestors from the 2^r-th ones (-1 beyond the root)."""
    return np.where(jump >= 0, jump[np.maximum(jump, 0)], -1)


def marked_below(parent: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Per node: it or a node of its subtree is marked (pointer doubling: after round r,
    every mark has reached its ancestors fewer than 2^r generations up)."""
    out = np.asarray(marked, bool).copy()
    jump, active = parent, np.flatnonzero(parent >= 0)
    while len(active):
        out[jump[active[out[active]]]] = True
        jump = _square(jump)
        active = active[jump[active] >= 0]
    return out


def marked_above(parent: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Per node: a proper ancestor is marked (pointer doubling)."""
    marked = np.asarray(marked, bool)
    out = np.zeros(len(parent), bool)
    active = np.flatnonzero(parent >= 0)
    out[active] = marked[parent[active]]
    jump = parent
    while len(active):
        out[active] = out[active] | out[jump[active]]
        jump = _square(jump)
        active = active[jump[active] >= 0]
    return out


class Descent:
    """The schedule of draws ``S[v] = step(v, S[parent[v]], d)`` down ``nodes``, given in order
    of their ``level`` (1, 2, ...: a node's parent is one level up, or fixed in S), made once for
    any number of descents: the first band of levels is drawn level by level; below it every
    node first gets, within its band, its map from the state at the band's top, one step per
    level for all bands at once, then the bands are applied in order (see the module
    docstring). With ``wanted`` (per node of S), below the first band only the wanted nodes
    and the bands' tops are written."""

    def __init__(self, parent: np.ndarray, nodes: np.ndarray, level: np.ndarray, wanted=None):
        depth = int(level[-1]) if len(level) else 0
        band = max(BAND, int(np.ceil(np.sqrt(depth))))
        self.parent, self.nodes = parent, nodes
        self.levels = np.searchsorted(level, np.arange(1, min(depth, band) + 2))   # of the first band
        below = int(self.levels[-1])
        lev = level[below:] - band - 1                          # level within the bands below
        self.order = below + np.argsort(lev % band, kind="stable")   # the nodes below by that level: rows of H
        self.v = nodes[self.order]
        self.steps = np.searchsorted(lev[self.order - below] % band, np.arange(band + 1))
        row = np.full(len(parent), -1, np.int64)
        row[self.v] = np.arange(len(self.v))
        top = parent[self.v]                                    # the band's top (a node above it, or fixed)
        self.up = np.full(len(top), -1)                         # the parent's row in the band, else -1 (identity)
        for lo, hi in zip(self.steps[1:-1], self.steps[2:]):
            up = self.up[lo:hi] = row[top[lo:hi]]
            top[lo:hi] = np.where(up >= 0, top[up], top[lo:hi])
        out = np.ones(len(parent), bool) if wanted is None else np.array(wanted, bool)
        out[top] = True
        out = below + np.flatnonzero(out[nodes[below:]])       # written, in level order
        self.bands = np.searchsorted(out, below + np.searchsorted(lev // band, np.arange((depth - band - 1) // band + 2)))
        self.out = nodes[out]
        self.row = row[self.out]                                # their rows of H,
        self.top = top[self.row]                                # their bands' tops

    def __call__(self, S: np.ndarray, k: int, step, draws: np.ndarray) -> np.ndarray:
        """Draw S (nodes x columns, states 0..k-1) with ``draws`` (one per node and column, e.g.
        uniforms, in the order of the nodes): ``step(nodes, x, d)`` maps parent states x
        (m, columns, j) and their nodes' draws d (m, columns) to the child states
        (m, columns, j); j = k where it composes maps."""
        r = S.shape[1]
        for lo, hi in zip(self.levels[:-1], self.levels[1:]):
            v = self.nodes[lo:hi]
            S[v] = step(v, S[self.parent[v]][:, :, None], draws[lo:hi])[:, :, 0]
        if not len(self.v):
            return S
        H = np.empty((len(self.v) + 1, r, k), np.int8 if k < 128 else S.dtype)   # every map from the band's top,
        H[-1] = np.arange(k)                                    # the last the identity
        d = draws[self.order]
        for lo, hi in zip(self.steps[:-1], self.steps[1:]):
            H[lo:hi] = step(self.v[lo:hi], H[self.up[lo:hi]], d[lo:hi])
        flat, cols = H.reshape(-1), np.arange(r) * k
        for lo, hi in zip(self.bands[:-1], self.bands[1:]):
            S[self.out[lo:hi]] = flat[self.row[lo:hi, None] * (r * k) + cols + S[self.top[lo:hi]]]
        return S
