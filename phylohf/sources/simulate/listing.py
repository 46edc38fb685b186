"""The API-shaped listing: tags, cardData, model cards and config, in record batches."""

from __future__ import annotations

import json
import string
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import _draw, _join, _lists, _lookup, _offsets, _ragged_index, _render, _scatter
from .dirt import _Dirt
from .identity import _popularity, _times
from .params import SimParams
from .topology import _Topology
from .vocabulary import (ADAPTER, ARCHITECTURES, DATASETS, FINETUNE, LANGUAGE_SETS, LIBRARIES, LICENSES, RELATIONS,
                         TASKS, _ARCH_FAMILY, _ARXIV, _CARD_KINDS, _CARD_KIND_P, _CONFIGS, _CONFIG_LIBRARIES, _FLAGS,
                         _LIB, _OTHER_LICENSE_NAMES, _SENTENCES, _SYLLABLES, _TEMPLATES, _USAGE)

_BLOCK = 1 << 18  # listing rows emitted per record batch (bounds the memory of string building)


def _flags(rng, b: SimpleNamespace) -> np.ndarray:
    """(rows, len(_FLAGS)) bool matrix of free-form tags."""
    family = _ARCH_FAMILY[b.arch]
    ctx = SimpleNamespace(rel=b.rel, family=family, has_config=b.has_config,
                          textgen=b.task == TASKS.index("text-generation"),
                          tuned=(b.rel == FINETUNE) | (b.rel == ADAPTER), is_lib=lambda name: b.lib == _LIB[name])
    return np.column_stack([rng.random(b.rel.size) < p(ctx) for _, _, p in _FLAGS])


def _free_tags(rng, topo: _Topology, prm: SimParams) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Long-tailed free-form tags: a vocabulary of ``free_tag_vocabulary`` tags per model with
    Zipf-like popularity; each tag is coined by one model, every model picks a Poisson number
    (``free_tags_new``) more by popularity, and a child keeps each of its primary parent's
    with probability ``free_tag_inherit``. Returns (offsets, tag codes) per model and the tag
    names (code order: most popular first)."""
    n = topo.parent.size
    v = max(1, int(round(prm.free_tag_vocabulary * n)))
    cum = np.cumsum(np.arange(1.0, v + 1) ** -prm.free_tag_zipf)
    picks = rng.poisson(prm.free_tags_new, n)
    node = np.r_[rng.integers(0, n, v), np.repeat(np.arange(n), picks)]
    tag = np.r_[np.arange(v), np.minimum(np.searchsorted(cum / cum[-1], rng.random(picks.sum()), "right"), v - 1)]
    own = np.argsort(node, kind="stable")
    node, tag = node[own], tag[own]
    own_lo, own_hi = np.searchsorted(node, np.arange(n)), np.searchsorted(node, np.arange(n), "right")
    done, prev_node, prev_tag = [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    for level in topo.levels:
        par = topo.parent[level]
        lo, hi = np.searchsorted(prev_node, par), np.searchsorted(prev_node, par, "right")
        lo, hi = np.where(par >= 0, lo, 0), np.where(par >= 0, hi, 0)
        kept = rng.random((hi - lo).sum()) < prm.free_tag_inherit
        mine = _ragged_index(own_lo[level], own_hi[level] - own_lo[level])
        key = np.sort(np.r_[(np.repeat(level, hi - lo) * v + prev_tag[_ragged_index(lo, hi - lo)])[kept],
                            node[mine] * v + tag[mine]])
        key = key[np.r_[True, key[1:] != key[:-1]]] if key.size else key
        prev_node, prev_tag = np.divmod(key, v)
        done.append(key)
    key = np.sort(np.concatenate(done))
    base = len(_SYLLABLES)
    digits = max(3, int(np.ceil(np.log(v) / np.log(base))))              # 6+ letters: never a language code
    names = _join(*(_lookup(_SYLLABLES, np.arange(v) // base ** d % base) for d in range(digits)))
    return _offsets(np.bincount(key // v, minlength=n)), key % v, names


class _Tags:
    """Tag vocabulary: static strings by group; ``base_model`` strings are appended per batch."""

    def __init__(self):
        codes = sorted({c for cs, _ in LANGUAGE_SETS for c in cs})
        groups = {"library": LIBRARIES, "arch": [a[0] for a in ARCHITECTURES], "task": TASKS,
                  "lang": codes, "license": [f"license:{x}" for x, _, _ in LICENSES],
                  "dataset": [f"dataset:{x}" for x, _, _ in DATASETS], "arxiv": [f"arxiv:{x}" for x in _ARXIV],
                  "flag": [t for t, _, _ in _FLAGS], "region": ["region:us"]}
        self.strings, self.base = [], {}
        for group, values in groups.items():
            self.base[group] = len(self.strings)
            self.strings += list(values)
        lang = [[codes.index(c) for c in cs] for cs, _ in LANGUAGE_SETS]
        self.lang_offsets = _offsets(np.array([0] + [len(x) for x in lang]))
        self.lang_values = self.base["lang"] + np.array(sum(lang, []), np.int64)

    def single(self, group: str, codes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return valid.astype(np.int64), self.base[group] + codes[valid]

    def languages(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.diff(self.lang_offsets)[state]
        return lengths, self.lang_values[_ragged_index(self.lang_offsets[state], lengths)]

    def flags(self, mask: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(mask[:, columns])
        return np.bincount(rows, minlength=mask.shape[0]), self.base["flag"] + columns[cols]


def _interleave(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-row concatenation of ragged components given as (lengths, values in row order)."""
    lengths = np.stack([length for length, _ in parts])
    offsets = _offsets(lengths.sum(0))
    starts = offsets[:-1] + np.cumsum(lengths, 0) - lengths
    out = np.empty(offsets[-1], np.int64)
    for (length, values), start in zip(parts, starts):
        out[_ragged_index(start, length)] = values
    return lengths.sum(0), out


def _tags(rng, g: SimpleNamespace, b: SimpleNamespace, flags: np.ndarray, kind: np.ndarray) -> pa.ListArray:
    """Hub tags: library, architecture, card tags, task, languages, dataset, arxiv, base_model, license, auto tags."""
    m, e, vocab = b.rel.size, b.edge_parent.size, g.vocab
    in_card = np.array([c for _, c, _ in _FLAGS])
    hub_card = kind == _CARD_KINDS.index("hub")  # the Hub template cites arXiv:1910.09700 (_ARXIV[0])
    parts = [
        vocab.single("library", np.maximum(b.lib, 0), b.lib >= 0),
        vocab.single("arch", b.arch, np.ones(m, bool)),
        vocab.flags(flags, np.flatnonzero(in_card)),
        vocab.single("task", b.task, ~b.hide_task),
        vocab.languages(np.where(b.hide_languages, 0, b.language)),
        vocab.single("dataset", b.dataset - 1, b.dataset > 0),
        vocab.single("arxiv", np.where(hub_card, 0, rng.integers(1, len(_ARXIV), m)),
                     hub_card | (rng.random(m) < 0.04)),
        (np.diff(g.free_offsets)[b.rows], len(vocab.strings) + g.free_codes[
            _ragged_index(g.free_offsets[b.rows], np.diff(g.free_offsets)[b.rows])]),
        (2 * b.n_parents, len(vocab.strings) + len(g.free_names)
         + np.column_stack([np.arange(e), e + np.arange(e)]).ravel()),
        vocab.single("license", b.license - 1, (b.license > 0) & ~b.hide_license),
        vocab.flags(flags, np.flatnonzero(~in_card)),
        vocab.single("region", np.zeros(m, np.int64), np.ones(m, bool)),
    ]
    lengths, codes = _interleave(parts)
    pid = g.ids.take(b.edge_parent)
    rel = _lookup(RELATIONS, np.where(b.edge_rel >= 0, b.edge_rel, FINETUNE))
    pool = pa.concat_arrays([pa.array(vocab.strings), g.free_names, _join("base_model:", pid),
                             _join("base_model:", rel, ":", pid)])
    return _lists(lengths, pool.take(pa.array(codes)))


def _card_tags_fragment(mask: np.ndarray) -> pa.Array:
    """cardData ``tags`` fragment from a bool matrix of card flags (one string per distinct set)."""
    card = np.array([t for t, in_card, _ in _FLAGS if in_card])
    bits = mask.astype(np.int64) @ (1 << np.arange(card.size))
    uniq, inv = np.unique(bits, return_inverse=True)
    table = [', "tags": ' + json.dumps(card[(u >> np.arange(card.size)) & 1 == 1].tolist()) if u else ""
             for u in uniq]
    return _lookup(table, inv)


def _base_model_fragment(g: SimpleNamespace, b: SimpleNamespace) -> pa.Array:
    """cardData ``base_model``: a string for one declared parent, a list for several; dirty spellings."""
    pid = g.ids.take(b.edge_parent)
    quoted = _join(_lookup(['"', '"https://huggingface.co/', '" '], b.edge_form), pid,
                   _lookup(['"', '"', ' "'], b.edge_form))
    many = (b.n_parents > 1).astype(np.int64)
    frag = _join(_lookup([', "base_model": ', ', "base_model": ['], many),
                 pc.binary_join(_lists(b.n_parents, quoted), ", "), _lookup(["", "]"], many))
    return pc.if_else(pa.array(b.n_parents > 0), frag, "")


def _card_data(rng, g: SimpleNamespace, b: SimpleNamespace, flags: np.ndarray) -> pa.Array:
    """The cardData JSON text of every row (null when it declares nothing)."""
    m = b.rel.size
    lic_ids = [x for x, _, _ in LICENSES]
    lic_table = [""] + [f', "license": "{x}"' for x in lic_ids] + [
        f', "license": "other", "license_name": "{x}", "license_link": "LICENSE"' for x in _OTHER_LICENSE_NAMES]
    lic_code = np.where(b.license == 1 + lic_ids.index("other"),
                        1 + len(lic_ids) + g.topo.root_of[b.rows] % len(_OTHER_LICENSE_NAMES), b.license)
    sets = [[]] + [list(c) for c, _ in LANGUAGE_SETS]
    lang_table = [f', "language": {json.dumps(c)}' if c else "" for c in sets] + \
                 [f', "language": "{c[0]}"' if c else "" for c in sets]
    single = np.array([len(c) == 1 for c in sets])[b.language]
    frags = [
        _lookup(lic_table, lic_code, ~b.hide_license),
        _lookup(lang_table, b.language + len(sets) * (single & (rng.random(m) < 0.5)), ~b.hide_languages),
        _lookup([""] + [f', "datasets": ["{d}"]' for d, _, _ in DATASETS], b.dataset),
        _lookup([f', "pipeline_tag": "{t}"' for t in TASKS], b.task, ~b.hide_task & (rng.random(m) < 0.5)),
        _lookup([f', "library_name": "{x}"' for x in LIBRARIES], np.maximum(b.lib, 0),
                (b.lib >= 0) & (rng.random(m) < 0.6)),
        _card_tags_fragment(flags[:, [in_card for _, in_card, _ in _FLAGS]]),
        _base_model_fragment(g, b),
        _lookup([f', "base_model_relation": "{r}"' for r in RELATIONS], np.maximum(b.rel, 0),
                (b.n_parents > 0) & (b.rel >= 0) & (rng.random(m) < g.prm.relation_in_card)),
    ]
    body = _join(*[pc.fill_null(f, "") for f in frags])
    text = _join("{", pc.utf8_slice_codeunits(body, 2), "}")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), text)


def _config(b: SimpleNamespace) -> pa.Array:
    """config JSON text (model_type and architectures) for libraries that ship one."""
    return _lookup(_CONFIGS, b.arch * len(TASKS) + b.task, b.has_config)


def _cards(rng, g: SimpleNamespace, b: SimpleNamespace) -> tuple[pa.Array, np.ndarray]:
    """Model-card markdown for a share of the rows (null for the rest) and the card kind (-1 = none).
    In the neutral scenarios every model draws its card as a root does (presence, kind, length)."""
    m = b.rel.size
    root = (b.rel < 0) | g.neutral
    if g.neutral:                                   # the inherited symmetric characters of _neutral_cards
        has, kind = g.cards.has[b.rows], np.where(g.cards.has[b.rows], g.cards.kind[b.rows], -1)
    else:
        has = rng.random(m) < np.where(root, g.prm.card_rate_root, g.prm.card_rate_child)
        kind = np.where(has, _draw(_CARD_KIND_P, np.where(root, 0, b.rel + 1), rng.random(m)), -1)
    sentences = pa.array(_SENTENCES)

    def body(s):
        if g.neutral:                               # length a function of the length class alone
            return pc.binary_repeat(_NEUTRAL_SENTENCE, 2 ** g.cards.length[b.rows[s]])
        k = np.where(root[s], 4 + rng.geometric(0.1, s.size), rng.geometric(0.4, s.size))
        return pc.binary_join(_lists(k, sentences.take(rng.integers(0, len(_SENTENCES), k.sum()))), " ")

    def usage(s):
        wanted = pa.array(rng.random(s.size) < np.where(g.neutral, 0.0, np.where(root[s], 0.5, 0.15)))
        return pc.if_else(wanted, _render(_USAGE, {"id": g.ids.take(b.rows[s])}), "")

    def parents(s):
        count = np.diff(g.true_offsets)[b.rows[s]]
        pid = g.ids.take(g.topo.edge_parent[_ragged_index(g.true_offsets[b.rows[s]], count)])
        return pc.binary_join(_lists(count, _join("* [", pid, "](https://huggingface.co/", pid, ")")), "\n")

    fields = {
        "name": lambda s: pa.array(["model"] * s.size, pa.string()) if g.neutral else g.names.take(b.rows[s]),
        "parent": lambda s: g.ids.take(g.topo.parent[b.rows[s]]),
        "data": lambda s: _lookup(["an unknown dataset"] + [f"the {d} dataset" for d, _, _ in DATASETS],
                                  b.dataset[s]),
        "loss": lambda s: pc.cast(pa.array(np.round(rng.gamma(2.0, 0.3, s.size), 4)), pa.string()),
        "body": body, "usage": usage, "parents": parents,
    }

    def render(k, template):
        s = np.flatnonzero(kind == k)
        needed = sorted({f for _, f, _, _ in string.Formatter().parse(template) if f})
        return s, _render(template, {f: fields[f](s) for f in needed})

    templates = _NEUTRAL_TEMPLATES if g.neutral else tuple(_TEMPLATES.values())
    return _scatter(m, (render(k, t) for k, t in enumerate(templates))), kind


def _batch(rng, g: SimpleNamespace, rows: np.ndarray) -> pa.RecordBatch:
    """The listing rows of models ``rows`` (sorted, all kept)."""
    d, st = g.dirt, g.states
    lo, hi = np.searchsorted(d.edge_child, [rows[0], rows[-1] + 1])
    b = SimpleNamespace(rows=rows, rel=g.topo.relation[rows], arch=st["architecture"][rows], task=st["task"][rows],
                        license=st["license"][rows], language=st["language"][rows], dataset=st["dataset"][rows],
                        hide_license=d.hidden["license"][rows], hide_languages=d.hidden["languages"][rows],
                        hide_task=d.hidden["pipeline_tag"][rows], edge_parent=d.edge_parent[lo:hi],
                        edge_form=d.edge_form[lo:hi], edge_rel=g.topo.relation[d.edge_child[lo:hi]],
                        n_parents=np.bincount(np.searchsorted(rows, d.edge_child[lo:hi]), minlength=rows.size))
    b.lib = st["library"][rows]
    b.has_config = (b.lib >= 0) & _CONFIG_LIBRARIES[np.maximum(b.lib, 0)]
    flags = _flags(rng, b)
    card, kind = _cards(rng, g, b)
    gated_license = np.isin(b.license, [1 + [x for x, _, _ in LICENSES].index(x)
                                        for x in ("llama2", "llama3", "llama3.1", "llama3.2", "gemma")])
    stamp = pa.timestamp("ms", tz="UTC")
    ids = g.ids.take(rows)
    return pa.RecordBatch.from_pydict({
        "id": ids, "modelId": ids, "author": g.authors.take(rows),
        "createdAt": pa.array(g.created[rows], stamp), "lastModified": pa.array(g.modified[rows], stamp),
        "downloads": g.downloads[rows], "likes": g.likes[rows],
        "library_name": _lookup(LIBRARIES, np.maximum(b.lib, 0), b.lib >= 0),
        "pipeline_tag": _lookup(TASKS, b.task, ~b.hide_task),
        "tags": _tags(rng, g, b, flags, kind),
        "private": np.zeros(rows.size, bool),
        "gated": (gated_license & (b.rel < 0) & (rng.random(rows.size) < 0.6)) | (rng.random(rows.size) < 0.01),
        "cardData": _card_data(rng, g, b, flags), "config": _config(b), "card": card,
    })


CARD_LENGTHS = 7                             # neutral card length classes: 2^0 .. 2^6 sentences
_NEUTRAL_SENTENCE = "A neutral card sentence of exactly sixty-four characters, fixed."
# neutral cards by kind (free, Hub template): at most 64 characters beside the body, so that the
# length class (a power of two) is the chain's L + 7 whatever the kind
_NEUTRAL_TEMPLATES = ("# {name}\n\n{body}", "# {name}\n\n[More Information Needed] automatically generated\n\n{body}")


def _neutral_cards(rng, topo: _Topology, prm: SimParams) -> SimpleNamespace:
    """Card presence, kind (0 free, 1 Hub template) and length class of every model in the
    neutral scenarios: roots as roots draw them, then each a symmetric chain down the tree."""
    n, f = topo.parent.size, prm.card_flip
    has, kind, length = np.empty(n, bool), np.empty(n, np.int64), np.empty(n, np.int64)
    roots = topo.levels[0]
    has[roots] = rng.random(roots.size) < prm.card_rate_root
    kind[roots] = rng.random(roots.size) < _CARD_KIND_P[0, 1]
    length[roots] = rng.integers(2, CARD_LENGTHS, roots.size)
    for nodes in topo.levels[1:]:
        p, u = topo.parent[nodes], rng.random((3, nodes.size))
        has[nodes] = has[p] ^ (u[0] < f)
        kind[nodes] = kind[p] ^ (u[1] < f)
        length[nodes] = np.clip(length[p] + (u[2] < f / 2) - (u[2] > 1 - f / 2), 0, CARD_LENGTHS - 1)
    return SimpleNamespace(has=has, kind=kind, length=length)


def _listing(rng, topo: _Topology, states: dict, dirt: _Dirt, ids: pa.Array, names: pa.Array,
             authors: pa.Array, prm: SimParams, free: tuple, neutral: bool) -> pa.Table:
    """The listing table of the models kept (Hub API camelCase schema), built in blocks of rows;
    ``free``: the free-form tags of :func:`_free_tags`; ``neutral``: cards drawn alike for all."""
    n = topo.parent.size
    created, modified = _times(rng, n, prm)
    downloads, likes = _popularity(rng, np.bincount(topo.edge_parent, minlength=n))
    g = SimpleNamespace(topo=topo, states=states, dirt=dirt, ids=ids, names=names, authors=authors, prm=prm,
                        created=created, modified=modified, downloads=downloads, likes=likes, vocab=_Tags(),
                        neutral=neutral, cards=_neutral_cards(rng, topo, prm) if neutral else None,
                        true_offsets=_offsets(np.bincount(topo.edge_child, minlength=n)))
    g.free_offsets, g.free_codes, g.free_names = free
    rows = np.flatnonzero(dirt.keep)
    return pa.Table.from_batches([_batch(rng, g, rows[i:i + _BLOCK]) for i in range(0, rows.size, _BLOCK)])
