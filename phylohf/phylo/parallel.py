"""Replicates in independent chunks, on one thread per core (numpy releases the GIL in its loops).

Each chunk draws from its own random stream (spawned from one seed), so a result does not
depend on how many threads ran it."""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_chunks(f, total: int, chunk: int, seed) -> list:
    """``[f(m, rng), ...]`` over chunks of at most ``chunk`` of ``total`` replicates (``m`` in
    each), every chunk with a generator of its own spawned from ``seed``, the calls spread
    over one thread per core."""
    sizes = [min(chunk, total - lo) for lo in range(0, total, chunk)]
    streams = np.random.SeedSequence(seed).spawn(len(sizes))

    def one(m, stream):
        return f(m, np.random.default_rng(stream))
    workers = min(cores(), len(sizes))
    if workers < 2:
        return list(map(one, sizes, streams))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, sizes, streams))


def unit_counts(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    """(m, k) counts of ``m`` bootstrap replicates of ``k`` units: each replicate draws ``k``
    units with replacement (multinomial counts, as a cluster bootstrap resamples clusters)."""
    draws = rng.integers(0, max(k, 1), size=(m, k))
    draws += k * np.arange(m)[:, None]
    return np.bincount(draws.ravel(), minlength=m * k).reshape(m, k)
