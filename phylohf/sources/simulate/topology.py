"""The forest: preferential attachment, depths, merge parents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import SimParams
from .vocabulary import FINETUNE, MERGE, RELATIONS


@dataclass
class _Topology:
    parent: np.ndarray      # primary parent, -1 for roots
    relation: np.ndarray    # relation code to the parents, -1 for roots
    depth: np.ndarray
    root_of: np.ndarray     # family root
    levels: list            # model indices per depth
    edge_child: np.ndarray  # all true edges, sorted by child then slot (primary first)
    edge_parent: np.ndarray


def _attach(rng, kids: np.ndarray, uniform: float) -> np.ndarray:
    """Preferential-attachment parents of ``kids`` (sorted) by the Simon/Yule copy trick."""
    rank = np.arange(kids.size)
    direct = (rng.random(kids.size) < uniform) | (rank == 0)
    target = np.where(direct, rng.random(kids.size) * kids, rng.random(kids.size) * rank).astype(np.int64)
    pending = np.flatnonzero(~direct)
    while pending.size:  # pointer jumping: a copy points at an earlier child's target
        t = target[pending]
        target[pending] = target[t]
        direct[pending] = direct[t]
        pending = pending[~direct[pending]]
    return target


def _depth(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and family root of every model by pointer jumping (list ranking)."""
    anc = np.where(parent < 0, np.arange(parent.size), parent)
    depth = (parent >= 0).astype(np.int64)
    act = np.flatnonzero(parent[anc] >= 0)
    while act.size:
        a = anc[act]
        depth[act] += depth[a]
        anc[act] = anc[a]
        act = act[parent[anc[act]] >= 0]
    return depth, anc


def _merge_parents(rng, parent, root_of, kids, merges, prm) -> tuple[np.ndarray, np.ndarray]:
    """Extra parents of merges (slot 1..3): earlier family members or attachment draws."""
    child = np.repeat(merges, 1 + rng.choice(3, merges.size, p=prm.merge_parent_probs))
    order = np.lexsort((np.arange(parent.size), root_of))
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    first = np.searchsorted(root_of[order], root_of[child])
    same_family = order[first + (rng.random(child.size) * (pos[child] - first)).astype(np.int64)]
    rank = np.searchsorted(kids, child)
    uniform = (rng.random(child.size) < prm.uniform_parent) | (rank == 0)
    copied = parent[kids[(rng.random(child.size) * rank).astype(np.int64)]]
    anywhere = np.where(uniform, (rng.random(child.size) * child).astype(np.int64), copied)
    return child, np.where(rng.random(child.size) < prm.merge_same_family, same_family, anywhere)


def _topology(rng, n: int, prm: SimParams) -> _Topology:
    """Roots, primary parents, relations, merge parents, depths and families of ``n`` models."""
    is_root = rng.random(n) < prm.root_rate
    is_root[0] = True
    kids = np.flatnonzero(~is_root)
    parent = np.full(n, -1, np.int64)
    parent[kids] = _attach(rng, kids, prm.uniform_parent)
    relation = np.full(n, -1, np.int64)
    relation[kids] = rng.choice(len(RELATIONS), kids.size, p=prm.relation_probs)
    relation[(relation == MERGE) & (np.arange(n) < 2)] = FINETUNE
    depth, root_of = _depth(parent)
    xc, xp = _merge_parents(rng, parent, root_of, kids, np.flatnonzero(relation == MERGE), prm)
    child = np.concatenate([kids, xc])
    par = np.concatenate([parent[kids], xp])
    slot = np.concatenate([np.zeros(kids.size, np.int64), np.ones(xc.size, np.int64)])
    order = np.lexsort((slot, par, child))  # drop repeated parents, keeping the primary
    child, par, slot = child[order], par[order], slot[order]
    keep = np.ones(child.size, bool)
    keep[1:] = (child[1:] != child[:-1]) | (par[1:] != par[:-1])
    child, par, slot = child[keep], par[keep], slot[keep]
    order = np.lexsort((slot, child))
    child, par = child[order], par[order]
    relation[(relation == MERGE) & (np.bincount(child, minlength=n) < 2)] = FINETUNE
    levels = np.split(np.argsort(depth, kind="stable"), np.cumsum(np.bincount(depth))[:-1])
    return _Topology(parent, relation, depth, root_of, levels, child, par)
