"""Text formatting shared by the analyses' reports."""
from __future__ import annotations

import numpy as np

from .overview import table


def _matrix(m: np.ndarray, names: list[str], fmt, empty=(), extra: tuple[str, list[str]] | None = None) -> list[str]:
    """A parent x child matrix; rows in ``empty`` read "no data"; ``extra``: (header, one cell per row)."""
    k = len(names)
    rows = [[f"{names[i]} ->", *(["no data", *["-"] * (k - 1)] if i in empty else [fmt(v) for v in m[i]]),
             *([extra[1][i]] if extra else [])] for i in range(k)]
    return table(["parent \\ child", *names, *([extra[0]] if extra else [])], rows,
                 right=set(range(1, k + 1 + bool(extra))))
