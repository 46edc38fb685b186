"""The interactive family explorer: one self-contained HTML page per family.

The page holds the family as columns in pre-order (ids, parent positions, every NHX
attribute of :func:`phylohf.export.trees.node_attributes` dictionary-encoded with the
legend colours of :func:`phylohf.export.draw.legend`, creation dates, downloads, merge parents
and, optionally, the posterior probabilities of an ancestral reconstruction), d3 (vendored
from its npm package, ISC licence) and a small renderer of our own (``data/explorer.js``);
nothing is fetched when the page is viewed.

Families above ``max_nodes`` open as ``phylohf draw --collapse-by`` draws them
(:func:`phylohf.export.draw.drawing`): uniform clades collapsed, then the smallest clades, then the
leaves and triangles under one parent that share a colour grouped into one triangle; every
triangle expands on click.

Model ids are data: the JSON is embedded with ``<``, ``>``, ``&`` and U+2028/9 written as
``\\uXXXX`` escapes, so no id can close the ``<script>`` element, and the page's script
puts ids into the document only as text nodes and attribute values (never as markup).
"""
from __future__ import annotations

import html
import json
import re
from importlib import resources

import numpy as np

from .draw import ATTRIBUTES, LABEL_WIDTH, PALETTE, RELATION_LINE, _text, drawing, legend, preorder
from .trees import node_attributes
from ..genealogy.genome import Genome
from ..genealogy.lineage import NO_DATE, Lineage

HUB = "https://huggingface.co/"
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(data) -> str:
    """``data`` as JSON that is safe inside an HTML ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(str.maketrans(_JSON_ESCAPES))


def _asset(name: str) -> str:
    return resources.files("phylohf").joinpath("data", name).read_text(encoding="utf-8")


def _downloads(store, nodes: np.ndarray) -> list:
    """Downloads (last 30 days) of every node, None where unknown (placeholders)."""
    got = store.con.sql("SELECT n.idx, m.downloads FROM models m JOIN lineage_nodes n USING (id) "
                        "WHERE m.downloads IS NOT NULL").fetchnumpy()
    out = np.full(len(nodes), -1, np.int64)
    order = np.argsort(nodes)
    idx = np.asarray(got["idx"], np.int64)
    pos = np.searchsorted(nodes[order], idx)
    hit = (pos < len(nodes)) & (nodes[order][np.minimum(pos, len(nodes) - 1)] == idx)
    out[order[pos[hit]]] = np.asarray(got["downloads"], np.int64)[hit]
    return [None if d < 0 else d for d in out.tolist()]


def _attribute(values: np.ndarray) -> dict:
    """One attribute dictionary-encoded: distinct texts, a code per node, their colours, the legend."""
    raw = _text(values)
    texts, code = np.unique(raw, return_inverse=True)
    key, colors, counts = legend(raw)
    text_key = dict(zip(raw.tolist(), key.tolist()))
    return {"values": texts.tolist(), "code": code.tolist(),
            "color": [colors[text_key[t]] for t in texts.tolist()],
            "legend": [[v, c, counts[v]] for v, c in colors.items()]}


def _family_genome(genome: Genome, node: np.ndarray) -> Genome:
    """The genomes of ``node`` alone, each group's traits most frequent in them first (so the
    states of a reconstruction are the family's own most frequent values)."""
    m = genome.matrix[node].tocsc()
    counts = np.diff(m.indptr)
    order = np.lexsort((np.arange(len(counts)), -counts))
    order = order[counts[order] > 0]
    return Genome(m[:, order].tocsr(), genome.trait_group[order], genome.traits[order], counts[order],
                  genome.declared[node])


def _posterior(lineage: Lineage, genome: Genome, node: np.ndarray, trait: str, seed: int) -> dict:
    """Marginal posteriors of ``trait`` at the family's nodes (the ``phylohf asr`` defaults: Mk ER,
    unit branch lengths, equal root prior; the family's 10 most frequent values as states), in
    thousandths."""
    from ..genealogy.branch_lengths import branch_lengths
    from ..phylo.reconstruct import reconstruct
    from ..genealogy.traits import character
    states, names = character(_family_genome(genome, node), trait, 10, "unknown", lineage.observed[node])
    if not (states >= 0).any():
        raise ValueError(f"no model of this family declares {trait}: nothing to reconstruct "
                         "(pick another --asr trait)")
    truth = np.full(lineage.n, -1, np.int64)
    truth[node] = states
    scope = np.zeros(lineage.n, bool)
    scope[node] = True
    lengths = branch_lengths(lineage, "unit", genome).length
    r = reconstruct(lineage, truth, len(names), lengths, "ER", seed=seed, scope=scope)
    post = np.rint(r.marginals.posterior[node] * 1000).astype(np.int64)
    return {"trait": trait, "states": names, "model": f"{r.conventions}; branch lengths one per generation",
            "known": (states >= 0).astype(int).tolist(), "posterior": post.ravel().tolist()}


def family_root(lineage: Lineage, model_id: str | None, fams) -> int:
    """Node of the family root ``model_id`` (default: the largest family's root)."""
    if model_id is None:
        return int(fams.root[0])
    try:
        return lineage.family_root(model_id)
    except ValueError as e:
        raise ValueError(f"{e}; `phylohf families --store STORE` lists the families by their root ids") from None


def family_data(lineage: Lineage, genome, root: int, store=None, color_by: str = "license",
                asr: str | None = None, max_nodes: int = 5000, seed: int = 1) -> dict:
    """Everything the page shows of the family rooted at ``root`` (see the module docstring)."""
    if color_by not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {color_by!r}: expected one of {', '.join(ATTRIBUTES)}")
    if lineage.parent[root] >= 0:
        raise ValueError(f"{lineage.ids[root]!r} is not a family root; its family is "
                         f"{lineage.ids[lineage.root[root]]!r}")
    node, par, size = preorder(lineage, root)
    attrs = node_attributes(lineage, genome, node)
    collapsed: list[int] = []
    folded: list[int] = []
    if len(node) > max_nodes:
        d = drawing(lineage, genome, root, color_by, collapse_by=color_by, max_nodes=max_nodes)
        order = np.argsort(node)
        pos = order[np.searchsorted(node[order], d.node)]
        drawn, tri = np.zeros(len(node), bool), np.zeros(len(node), bool)
        drawn[pos], tri[pos[d.triangle]] = True, True
        below = np.r_[False, drawn[par[1:]] & ~tri[par[1:]] & ~drawn[1:]]   # grouped with a sibling
        collapsed = np.flatnonzero((size > 1) & (tri | below)).tolist()   # every clade drawn as a triangle
        folded = np.unique(par[below]).tolist()                            # parents whose siblings are grouped
    created = lineage.created[node]
    merges = attrs["merge_parents"][node]
    data = {
        "root": str(lineage.ids[root]), "hub": HUB, "color_by": color_by, "max_nodes": max_nodes,
        "ids": lineage.ids[node].tolist(), "parent": par.tolist(),
        "observed": lineage.observed[node].astype(int).tolist(),
        "created": [None if c == NO_DATE else c // 86400 for c in created.tolist()],
        "downloads": _downloads(store, node) if store is not None else [None] * len(node),
        "attributes": {name: _attribute(values[node]) for name, values in attrs.items()},   # every NHX one
        "merges": [[i, merges[i]] for i in np.flatnonzero([m is not None for m in merges.tolist()]).tolist()],
        "collapsed": collapsed, "folded": folded, "relation_line": RELATION_LINE, "palette": PALETTE,
        "label_width": LABEL_WIDTH,                                    # labels above a branch are cut beyond it
    }
    if asr is not None:
        data["asr"] = _posterior(lineage, genome, node, asr, seed)
    return data


def page(data: dict, title: str | None = None) -> str:
    """The explorer page of :func:`family_data` as one self-contained HTML document."""
    title = title or f"{data['root']}: {len(data['ids']):,} models (phylohf)"
    parts = {"title": html.escape(title), "css": _asset("explorer.css"), "data": script_json(data),
             "d3": _asset("js/d3.min.js"), "js": _asset("explorer.js")}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _asset("explorer.html"))   # one pass


def write_page(lineage: Lineage, genome, root: int, out, store=None, **options) -> tuple[dict, int]:
    """Write the explorer of the family rooted at ``root`` to ``out``; (its data, bytes written)."""
    data = family_data(lineage, genome, root, store, **options)
    text = page(data)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    return data, len(text.encode())
