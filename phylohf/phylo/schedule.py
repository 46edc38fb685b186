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
  every generation (simulation), :func:`descend` cuts the depth into bands of about
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


def descend(parent: np.ndarray, nodes: np.ndarray, level: np.ndarray, S: np.ndarray, k: int, step,
            rng: np.random.Generator) -> np.ndarray:
    """Draw ``S[v] = step(v, S[parent[v]], u)`` (S: nodes x columns, states 0..k-1) for
    ``nodes``, given in order of their ``level`` (1, 2, ...: a node's parent is one level up, or
    fixed in S), with one uniform u per node and column drawn level by level
    (``rng.random((len(level), columns))``) exactly as a level-by-level descent draws them.

    ``step(nodes, x, u)`` maps parent states x (m, columns, j) and uniforms u (m, columns) to
    the child states (m, columns, j). The first band of levels is drawn level by level; below
    it every node first gets, within its band, its map from the state at the band's top (j =
    k), one step per level for all bands at once, then the bands are applied in order (see
    the module docstring).
    """
    r = S.shape[1]
    depth = int(level[-1]) if len(level) else 0
    band = max(BAND, int(np.ceil(np.sqrt(depth))))
    cut = np.searchsorted(level, np.arange(1, min(depth, band) + 2))
    for lo, hi in zip(cut[:-1], cut[1:]):
        v = nodes[lo:hi]
        S[v] = step(v, S[parent[v]][:, :, None], rng.random((hi - lo, r)))[:, :, 0]
    rest, lev = nodes[cut[-1]:], level[cut[-1]:] - band - 1      # level within the bands below
    if not len(rest):
        return S
    u = rng.random((len(rest), r))
    row = np.full(len(S), -1, np.int64)
    row[rest] = np.arange(len(rest))
    H = np.empty((len(rest), r, k), np.int8 if k < 128 else S.dtype)   # map from the band top's state
    top = parent[rest].copy()                       # that top (a node above the band, or fixed)
    ident = np.broadcast_to(np.arange(k, dtype=H.dtype), (r, k))
    by_offset = np.argsort(lev % band, kind="stable")
    cut = np.searchsorted(lev[by_offset] % band, np.arange(band + 1))
    for j, (lo, hi) in enumerate(zip(cut[:-1], cut[1:])):
        i = by_offset[lo:hi]
        x = np.broadcast_to(ident, (hi - lo, r, k))
        if j:
            inside = np.flatnonzero(row[top[i]] >= 0)            # the parent is in the band
            x = x.copy()
            x[inside] = H[row[top[i[inside]]]]
            top[i[inside]] = top[row[top[i[inside]]]]
        H[i] = step(rest[i], x, u[i])
    cut = np.searchsorted(lev // band, np.arange(int(lev[-1]) // band + 2))
    for lo, hi in zip(cut[:-1], cut[1:]):
        S[rest[lo:hi]] = np.take_along_axis(H[lo:hi], S[top[lo:hi]][:, :, None].astype(np.int64), axis=2)[:, :, 0]
    return S
