"""Names, authors, creation dates and popularity of the simulated models."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import _join, _lookup, _offsets
from .params import SimParams
from .topology import _Topology
from .vocabulary import (ARCHITECTURES, FAMILIES, QUANTIZED, _ARCH_FAMILY, _LIB, _NAME_SUFFIXES, _ORGS, _QUANTIZERS,
                         _SIZES, _SYLLABLES)


def _words(rng, count: int) -> pa.Array:
    """``count`` pronounceable words of two or three syllables."""
    syl = pa.array(_SYLLABLES)
    codes = rng.integers(0, len(_SYLLABLES), (3, count))
    third = pc.if_else(pa.array(rng.random(count) < 0.5), syl.take(codes[2]), "")
    return _join(syl.take(codes[0]), syl.take(codes[1]), third)


def _handles(rng, count: int) -> pa.Array:
    """``count`` distinct user handles (mixed-radix syllable codes)."""
    k = len(_SYLLABLES)
    code = rng.choice(10 * k ** 3, count, replace=False)
    syl = pa.array(_SYLLABLES)
    digits = pc.if_else(pa.array(code < k ** 3), "", pc.cast(pa.array(code // k ** 3), pa.string()))
    return _join(*[syl.take(code // k ** i % k) for i in range(3)], digits)


def _pick(rng, table: tuple, rows: np.ndarray) -> np.ndarray:
    """Uniform index into the flattened ``table`` of tuples, within tuple ``rows[i]``."""
    sizes = np.array([len(t) for t in table])
    return _offsets(sizes)[rows] + (rng.random(rows.size) * sizes[rows]).astype(np.int64)


def _dedup_suffix(keys: pa.Array) -> pa.Array:
    """``""`` for the first occurrence of each key, then ``-2``, ``-3``, ..."""
    codes = keys.dictionary_encode().indices.to_numpy()
    order = np.argsort(codes, kind="stable")
    first = np.r_[True, codes[order][1:] != codes[order][:-1]]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
    return pc.if_else(pa.array(rank > 0), _join("-", pc.cast(pa.array(rank + 1), pa.string())), "")


def _identity(rng, topo: _Topology, states: dict, prm: SimParams) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Model ids, names and authors: families share a name stem, quantizations extend the parent's."""
    n = topo.parent.size
    rel = topo.relation
    is_root, quant = rel < 0, rel == QUANTIZED
    words = _words(rng, prm.n_words)
    word = lambda: words.take(rng.integers(0, prm.n_words, n))  # noqa: E731
    family = _ARCH_FAMILY[states["architecture"]]
    sizes = tuple(_SIZES[f] for f in FAMILIES)
    root_name = _join(word(), _lookup([a[0] for a in ARCHITECTURES], states["architecture"]),
                      _lookup(sum(sizes, ()), _pick(rng, sizes, family)), sep="-")
    stem = root_name.take(topo.root_of)
    quant_kind = quant * ((states["library"] == _LIB["gguf"]) + 2 * (states["library"] == _LIB["mlx"]))
    suffix_row = np.where(quant & (quant_kind > 0), 3 + quant_kind, np.maximum(rel, 0))
    suffix = _lookup(sum(_NAME_SUFFIXES, ()), _pick(rng, _NAME_SUFFIXES, suffix_row))
    name = pc.if_else(pa.array(is_root), root_name, _join(stem, suffix, word(), sep="-"))
    base = pc.if_else(pa.array(quant), stem, name)
    name = pc.if_else(pa.array(quant), _join(base.take(np.maximum(topo.parent, 0)), suffix, sep="-"), name)

    n_handles = max(64, int(prm.authors_per_model * n))
    weight = (np.arange(n_handles) + 3.0) ** -0.9
    author = rng.choice(n_handles, n, p=weight / weight.sum())
    named = _ORGS + _QUANTIZERS
    big = is_root & (np.bincount(topo.edge_parent, minlength=n) >= 20)
    author[big] = n_handles + _pick(rng, named, family[big])
    quantizer = quant & (rng.random(n) < 0.5)
    author[quantizer] = n_handles + _pick(rng, named, len(_ORGS) + quant_kind[quantizer])
    authors = pa.concat_arrays([_handles(rng, n_handles), pa.array(sum(named, ()))]).take(author)
    # generated names never end in "-<digits>", so numbering the repeats makes them unique
    name = _join(name, _dedup_suffix(_join(authors, name, sep="/")))
    return _join(authors, name, sep="/"), name, authors


def _times(rng, n: int, prm: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Strictly increasing createdAt (ms) on an exponential growth curve, and lastModified."""
    start, end = (np.datetime64(d, "ms").astype(np.int64) for d in (prm.start, prm.end))
    frac = np.log1p(np.sort(rng.random(n)) * np.expm1(prm.growth)) / prm.growth
    created = start + (frac * (end - start)).astype(np.int64)
    created = np.maximum.accumulate(created - np.arange(n)) + np.arange(n)
    delay = (rng.exponential(30 * 86_400_000, n) * (rng.random(n) < 0.7)).astype(np.int64)
    return created, np.maximum(np.minimum(created + delay, end), created)


def _popularity(rng, n_children: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed downloads (boosted by the number of children) and correlated likes."""
    n = n_children.size
    log_downloads = rng.normal(1.0, 2.6, n) + 1.3 * np.log1p(n_children)
    downloads = np.floor(np.expm1(np.clip(log_downloads, 0, 20))).astype(np.int64)
    likes = rng.poisson(np.exp(0.62 * np.log1p(downloads) + rng.normal(-3.2, 1.1, n)))
    return downloads, likes.astype(np.int64)
