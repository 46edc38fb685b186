"""Small lineages for the tests of the phylogenetic methods."""
import numpy as np

from phylohf.lineage import Lineage


def forest(parent) -> Lineage:
    """A lineage from a parent list (-1 for roots), primary edges only."""
    parent = np.asarray(parent, np.int64)
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    return Lineage.from_edges(np.array([f"m{i:06d}" for i in range(n)], object), np.ones(n, bool),
                              np.zeros(n, np.int64), child, parent[child],
                              np.ones(len(child), np.int64), np.zeros(len(child), np.int8))


def random_tree(n, rng) -> np.ndarray:
    """Parent list of a random recursive tree: node i attaches to a uniform earlier node."""
    return np.r_[-1, rng.integers(0, np.arange(1, n))].astype(np.int64)
