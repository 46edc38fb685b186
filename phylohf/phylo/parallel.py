"""Independent chunks of work on one thread per core (numpy releases the GIL in its loops).

Each chunk draws from its own random stream (spawned from one seed), so a result does not
depend on how many threads ran it."""
import os
from concurrent.futures import ThreadPoolExecutor


def cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_map(f, *chunks) -> list:
    """``list(map(f, *chunks))``, the calls spread over one thread per core."""
    chunks = [list(c) for c in chunks]
    workers = min(cores(), len(chunks[0]) if chunks else 0)
    if workers < 2:
        return list(map(f, *chunks))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(f, *chunks))
