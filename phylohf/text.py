"""Plain-text tables shared by every result's report."""
from __future__ import annotations

import numpy as np


def table(header: list[str], rows: list[list], right: set[int] = frozenset()) -> list[str]:
    """Rows under a header and a rule, columns padded to their widest cell (``right``: right-aligned)."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.rjust(w) if i in right else c.ljust(w)
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return [fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]]


def matrix(m: np.ndarray, names: list[str], fmt, empty=(), extra: tuple[str, list[str]] | None = None) -> list[str]:
    """A parent x child matrix; rows in ``empty`` read "no data"; ``extra``: (header, one cell per row)."""
    k = len(names)
    rows = [[f"{names[i]} ->", *(["no data", *["-"] * (k - 1)] if i in empty else [fmt(v) for v in m[i]]),
             *([extra[1][i]] if extra else [])] for i in range(k)]
    return table(["parent \\ child", *names, *([extra[0]] if extra else [])], rows,
                 right=set(range(1, k + 1 + bool(extra))))
