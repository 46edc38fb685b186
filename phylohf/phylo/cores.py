"""How many cores this process may use (its CPU affinity where the platform tells it)."""
import os


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
