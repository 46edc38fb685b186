"""Dirt: hidden traits, deleted parents, URL/padded ids, self references and cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import SimParams
from .topology import _Topology


@dataclass
class _Dirt:
    keep: np.ndarray          # listed models (the rest are deleted)
    hidden: dict              # field -> bool mask of hidden declared values
    edge_child: np.ndarray    # declared edges of listed children, by child, true parents first
    edge_parent: np.ndarray
    edge_form: np.ndarray     # cardData spelling: 0 plain, 1 URL, 2 padded with spaces


def _dirt(rng, topo: _Topology, states: dict, prm: SimParams, n_deleted: int) -> _Dirt:
    """Deleted parents, hidden fields and the declared (corrupted) parent lists."""
    n = topo.parent.size
    has_kids = np.flatnonzero(np.bincount(topo.edge_parent, minlength=n) > 0)
    pool = has_kids if has_kids.size >= n_deleted else np.arange(n)
    keep = np.ones(n, bool)
    keep[rng.choice(pool, n_deleted, replace=False)] = False
    hidden = {"license": (states["license"] > 0) & (rng.random(n) < prm.hide_license),
              "languages": (states["language"] > 0) & (rng.random(n) < prm.hide_language),
              "pipeline_tag": rng.random(n) < prm.hide_task}
    listed = np.flatnonzero(keep)
    selfs = listed[rng.random(listed.size) < prm.self_ref_rate]
    linked = keep & (topo.parent >= 0) & keep[np.maximum(topo.parent, 0)]
    cycles = np.flatnonzero(linked & (rng.random(n) < prm.cycle_rate))  # parent declares this child
    true = keep[topo.edge_child]
    child = np.concatenate([topo.edge_child[true], selfs, topo.parent[cycles]])
    parent = np.concatenate([topo.edge_parent[true], selfs, cycles])
    order = np.argsort(child, kind="stable")
    cut = np.searchsorted([prm.url_parent_rate, prm.url_parent_rate + prm.space_parent_rate],
                          rng.random(child.size), side="right")  # 0 URL, 1 spaces, 2 plain
    return _Dirt(keep, hidden, child[order], parent[order], (cut + 1) % 3)
