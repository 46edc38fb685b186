"""Masking checks: hide known states, reconstruct them, score against simple baselines.

Which states are hidden matters, since missing is not at random on the Hub. Schemes:
``random`` (a uniform share of the known states, :func:`mask`), ``relation:R`` (every known
child of an R edge, e.g. all quantized children, :func:`relation_mask`) and ``authors`` (every
known model of randomly chosen authors, up to the share, :func:`author_mask`).

Scores over the hidden nodes: accuracy of the most probable state (states within a
relative :data:`TIE` of it share the hit, 1/k each: the expected accuracy of breaking
the tie at random, so a flat posterior scores 1/k, not whichever state float noise put
first), log-loss (mean negative log probability of the true state, probabilities floored
at 1e-12) and the Brier score (mean squared distance of the probability vector to the
true indicator).
Baselines, fitted on the unmasked nodes only:

* ``copy parent``: the parent's state's row of the empirical parent -> child matrix
  (edges with both states visible), or the global frequencies when the parent is unknown;
* ``majority``: the global state frequencies.
"""
from __future__ import annotations

import numpy as np

FLOOR = 1e-12
TIE = 1e-9      # relative: probabilities this close to the largest are tied with it


def mask(states: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(states with a random ``fraction`` of the known ones set to -1, the hidden nodes)."""
    if not 0 < fraction < 1:
        raise ValueError(f"the mask fraction must be between 0 and 1, got {fraction}")
    known = np.flatnonzero(states >= 0)
    hidden = np.sort(rng.choice(known, int(round(fraction * len(known))), replace=False))
    masked = states.copy()
    masked[hidden] = -1
    return masked, hidden


def relation_mask(states: np.ndarray, relation: np.ndarray, code: int) -> np.ndarray:
    """The known nodes whose primary edge (``relation``: -1 for roots) is of relation ``code``."""
    return np.flatnonzero((states >= 0) & (relation == code))


def authors(ids: np.ndarray) -> np.ndarray:
    """An author code per model id (the part before the first '/'; an id without one is its own)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    owner = pc.list_element(pc.split_pattern(pa.array(ids.tolist(), pa.string()), "/", max_splits=1), 0)
    return pc.dictionary_encode(owner).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def author_mask(states: np.ndarray, author: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Every known node of authors drawn in random order while their known nodes stay within
    ``fraction`` of all known ones (at least the first author)."""
    known = np.flatnonzero(states >= 0)
    owners, count = np.unique(author[known], return_counts=True)
    order = rng.permutation(len(owners))
    take = np.cumsum(count[order]) <= fraction * len(known)
    take[0] = True
    return known[np.isin(author[known], owners[order[take]])]


def score(prob: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, log-loss and Brier score of probability rows ``prob`` for states ``truth``."""
    onehot = np.eye(prob.shape[1])[truth]
    top = prob >= prob.max(axis=1, keepdims=True) * (1 - TIE)
    return {"accuracy": float(np.mean(top[np.arange(len(truth)), truth] / top.sum(axis=1))),
            "log_loss": float(-np.mean(np.log(np.maximum(prob[np.arange(len(truth)), truth], FLOOR)))),
            "brier": float(np.mean(np.sum((prob - onehot) ** 2, axis=1)))}


def baselines(parent: np.ndarray, masked: np.ndarray, hidden: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Probability rows for the hidden nodes under the two baselines."""
    freq = np.bincount(masked[masked >= 0], minlength=k) + 1.0
    freq /= freq.sum()
    child = np.flatnonzero(parent >= 0)
    a, b = masked[parent[child]], masked[child]
    both = (a >= 0) & (b >= 0)
    counts = np.bincount(a[both] * k + b[both], minlength=k * k).reshape(k, k) + freq   # smoothed
    P = counts / counts.sum(axis=1, keepdims=True)
    up = np.where(parent[hidden] >= 0, masked[np.maximum(parent[hidden], 0)], -1)
    copy = np.where((up >= 0)[:, None], P[np.maximum(up, 0)], freq)
    return {"copy parent": copy, "majority": np.tile(freq, (len(hidden), 1))}
