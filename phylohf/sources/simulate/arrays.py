"""Vectorised helpers: categorical draws, ragged indices, Arrow string building."""

from __future__ import annotations

import string

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _draw(prob: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One categorical draw per element from row ``rows[i]`` of ``prob``, using uniforms ``u``."""
    cum = np.cumsum(prob, axis=1)
    cum /= cum[:, -1:]
    k = prob.shape[1]
    flat = (cum + np.arange(len(prob))[:, None]).ravel()
    return np.minimum(np.searchsorted(flat, rows + u, side="right") - rows * k, k - 1)


def _ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``range(s, s + l)`` for each (start, length)."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if ends.size else 0) + np.repeat(starts - ends + lengths, lengths)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _lookup(strings, codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``strings[codes]`` as an Arrow string array, null where not ``valid``."""
    return pa.array(strings, pa.string()).take(pa.array(codes, pa.int64(), mask=None if valid is None else ~valid))


def _join(*parts, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in parts], sep)


def _lists(lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(_offsets(lengths), pa.int32()), values)


def _render(template: str, fields: dict[str, pa.Array]) -> pa.Array:
    """Fill ``{field}`` placeholders with aligned Arrow string arrays."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts += [literal] + ([fields[name]] if name else [])
    return _join(*parts)


def _scatter(n: int, pieces) -> pa.Array:
    """Length-``n`` string array with ``array`` at ``indices`` for each (indices, array) piece, null elsewhere.

    ``pieces`` may be a generator: each array is released once concatenated.
    """
    indices, arrays = zip(*pieces)
    pos = np.full(n, -1, np.int64)
    pos[np.concatenate(indices)] = np.arange(sum(map(len, indices)))
    values = pa.concat_arrays(arrays)
    del arrays
    return values.take(pa.array(pos, mask=pos < 0))
