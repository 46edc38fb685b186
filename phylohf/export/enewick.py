"""Extended Newick (Cardona, Rosselló & Valiente 2008): merges as networks, not trees.

Writing
    Each family is written as its primary tree (by :mod:`phylohf.export.newick`, so
    quoting, lengths, NHX and ``ancestors="tips"`` are exactly those of the Newick
    writer), then the reticulations are spliced into the tokens:

    * A merge with further parents drawn in its family is a *hybrid*. Its full
      occurrence (subtree, label, length, NHX) stays under its primary parent and gets
      the suffix ``#H<k>`` after the label: ``(a)m3#H1``, ``'org/x_y'#H1``. Under each
      drawn further parent it appears again as a leaf ``label#H<k>[:length]`` without
      NHX, appended after that parent's children (a parent without children gets them
      in new parentheses, and with ``ancestors="tips"`` a sampled-ancestor tip first).
    * ``k`` counts hybrids 1, 2, ... per family in the order their full occurrences
      appear in the text (pre-order); the leaves under one parent come in that order.
    * The label is quoted as in Newick and the suffix follows the closing quote, the
      common practice (PhyloNet, Dendroscope); labels containing ``#`` are always
      quoted, so a bare ``#`` only ever starts a hybrid suffix. Every occurrence carries
      the label, as ape's ``read.evonet`` matches occurrences by their full name.
    * Reticulation lengths are ``extra_lengths`` (one per edge of ``lineage.extra_*``),
      unknown (not written) when omitted: a per-node ``lengths`` array cannot hold them.
    * Further parents that cannot be drawn are left out (see :func:`reticulations` for
      the counts): a parent in another family (the caller's NHX ``merge_parents`` lists
      every further parent by id); a repeated edge or one repeating the primary edge;
      and an edge that would close a directed cycle. Edges are added in the order
      (child, parent) of pre-order and the first that closes a cycle with the tree and
      the edges kept so far is dropped: always when the parent descends from the child.

Reading
    :func:`read_enewick` strips the ``#H<k>`` suffixes (bare ``x#H1`` or after a quoted
    label), reads the rest with :func:`~phylohf.export.newick.read_newick` and merges the
    occurrences of each hybrid: the full one is the occurrence with children, else the
    only one with NHX or comments, else the first in the text. So a merge without
    children written without attributes reads back with the first of its parents in
    the text as tree parent (the edge set is still exact).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..genealogy.lineage import Lineage
from .newick import _TOKEN, Forest, _comments, _format_lengths, quote_label, read_newick

DRAWN, OTHER_FAMILY, DUPLICATE, CYCLE = range(4)
STATUS = ("drawn", "other_family", "duplicate", "cycle")
_SUFFIX = re.compile(r"(.*)#H(\d+)")


# -- which reticulations are drawn ------------------------------------------------------------
@dataclass
class Reticulations:
    """The further-parent edges of the families written, and what became of each."""

    edge: np.ndarray       # index into lineage.extra_child / extra_parent
    child: np.ndarray
    parent: np.ndarray
    status: np.ndarray     # int8 index into STATUS
    hybrid: np.ndarray     # k of the child's #H<k> when drawn, else 0

    def counts(self) -> dict[str, int]:
        """Edges per status: drawn, other_family, duplicate, cycle."""
        return dict(zip(STATUS, np.bincount(self.status, minlength=len(STATUS)).tolist()))


def _acyclic(lin: Lineage, nodes: np.ndarray, child: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Which of the candidate edges (in priority order) to keep so the network has no cycle.

    Cycles lie inside strongly connected components, so only edges within a
    non-trivial one are checked, one by one with a search over that component.
    """
    m = len(nodes)
    lc, lp = np.searchsorted(nodes, child), np.searchsorted(nodes, parent)
    tree = np.flatnonzero(lin.parent[nodes] >= 0)
    src = np.r_[np.searchsorted(nodes, lin.parent[nodes[tree]]), lp]
    dst = np.r_[tree, lc]
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    graph = csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(m, m))
    _, comp = connected_components(graph, directed=True, connection="strong")
    keep = np.ones(len(child), bool)
    for c in np.flatnonzero(np.bincount(comp) > 1).tolist():
        inside = comp == c
        succ = {int(u): [int(w) for w in graph.indices[graph.indptr[u]:graph.indptr[u + 1]]
                         if inside[w] and lin.parent[nodes[w]] == nodes[u]]
                for u in np.flatnonzero(inside)}
        for e in np.flatnonzero(inside[lc] & inside[lp]).tolist():
            if _reaches(succ, int(lc[e]), int(lp[e])):
                keep[e] = False
            else:
                succ[int(lp[e])].append(int(lc[e]))
    return keep


def _reaches(succ: dict[int, list[int]], a: int, b: int) -> bool:
    seen, stack = {a}, [a]
    while stack:
        u = stack.pop()
        if u == b:
            return True
        for w in succ[u]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return False


def _starts(a: np.ndarray) -> np.ndarray:
    """Where a run of equal values begins."""
    return np.r_[True, a[1:] != a[:-1]][:len(a)]


def _plan(lin: Lineage, nodes: np.ndarray, pre: np.ndarray, size: np.ndarray) -> Reticulations:
    """Classify the extra edges whose child is among ``nodes`` (sorted; pre-order, subtree sizes)."""
    gpre = np.full(lin.n, -1, np.int64)
    gpre[nodes] = pre
    edge = np.flatnonzero(gpre[lin.extra_child] >= 0)
    edge = edge[np.lexsort((gpre[lin.extra_parent[edge]], gpre[lin.extra_child[edge]]))]
    c, p = lin.extra_child[edge], lin.extra_parent[edge]
    status = np.full(len(edge), DRAWN, np.int8)
    status[lin.root[p] != lin.root[c]] = OTHER_FAMILY
    below = (gpre[p] >= gpre[c]) & (gpre[p] < gpre[c] + size[np.searchsorted(nodes, c)])
    status[(status == DRAWN) & below] = CYCLE
    dup = ~(_starts(c) | _starts(p)) | (lin.parent[c] == p)
    status[(status == DRAWN) & dup] = DUPLICATE
    cand = np.flatnonzero(status == DRAWN)
    status[cand[~_acyclic(lin, nodes, c[cand], p[cand])]] = CYCLE
    drawn = status == DRAWN
    cd = c[drawn]
    fresh = _starts(cd)                                              # first edge of each hybrid
    kids = cd[fresh]                                                 # in pre-order
    start = _starts(lin.root[kids])
    rank = np.arange(len(kids))
    number = rank - np.maximum.accumulate(np.where(start, rank, 0)) + 1
    hybrid = np.zeros(len(edge), np.int64)
    hybrid[drawn] = number[np.cumsum(fresh) - 1]
    return Reticulations(edge, c, p, status, hybrid)


def reticulations(lineage: Lineage, roots: Iterable[int] | None = None, forest: Forest | None = None
                  ) -> Reticulations:
    """What :func:`enewick_forest` does with each further parent of the families ``roots``
    (or of those of ``forest``, laid out already)."""
    forest = forest or Forest(lineage, roots)
    if forest.lay is None:
        none = np.empty(0, np.int64)
        return Reticulations(none, none, none, none.astype(np.int8), none)
    return _plan(lineage, forest.lay.nodes, _preorder(forest.lay), forest.lay.size)


def _preorder(lay) -> np.ndarray:
    """Rank of every laid-out node in the text (all families, in order)."""
    opened = np.empty(len(lay.events), np.int64)
    opened[lay.events] = np.arange(len(lay.events))
    return np.argsort(np.argsort(opened[0::2]))


# -- writing -------------------------------------------------------------------------------------
def enewick_forest(lineage: Lineage, roots: Iterable[int] | None = None, lengths=None,
                   ancestors: str = "internal", attributes: Mapping[str, np.ndarray] | None = None,
                   extra_lengths=None) -> Iterator[tuple[int, str]]:
    """``(root, extended newick)`` for every family root in ``roots`` (default: all).

    The options are those of :func:`~phylohf.export.newick.write_forest`, plus
    ``extra_lengths``: float per reticulation edge of ``lineage`` (NaN: unknown).
    See the module docstring for what is drawn and how.
    """
    forest = Forest(lineage, roots, lengths, ancestors, attributes)
    return forest.texts(network_tokens(forest, extra_lengths))


def network_tokens(forest: Forest, extra_lengths=None, plan: Reticulations | None = None) -> np.ndarray:
    """The tokens of ``forest`` (Newick, annotated) with its reticulations spliced in (``plan``:
    :func:`reticulations` of ``forest``, made when not given)."""
    lineage = forest.lineage
    if extra_lengths is not None:
        extra_lengths = np.asarray(extra_lengths, float)
        if extra_lengths.shape != lineage.extra_child.shape or np.isinf(extra_lengths).any():
            raise ValueError(f"extra_lengths must hold one finite value or NaN per reticulation edge "
                             f"({len(lineage.extra_child)}), got shape {extra_lengths.shape}")
    tokens = forest.tokens("newick")
    if forest.lay is None:
        return tokens
    plan = plan or reticulations(lineage, forest=forest)
    _splice(lineage, forest.lay, tokens, plan, extra_lengths)
    if forest.ancestors == "tips":
        _sample_new_parents(lineage, forest.lay, tokens, plan, forest.lengths is not None, forest.attributes)
    return tokens


def _relabel(token: str, old: str, new: str) -> str:
    """``token`` with the label after its leading ``,()`` punctuation changed from old to new."""
    lead = len(token) - len(token.lstrip(",()"))
    assert token.startswith(old, lead)
    return token[:lead] + new + token[lead + len(old):]


def _splice(lin: Lineage, lay, tokens: np.ndarray, plan: Reticulations, extra_lengths) -> None:
    """Add ``#H<k>`` to hybrids' full occurrences and their leaves under further parents."""
    drawn = plan.status == DRAWN
    c, p, h = plan.child[drawn], plan.parent[drawn], plan.hybrid[drawn]
    if not len(c):
        return
    kids, at = np.unique(c, return_index=True)
    for v, i, k in zip(kids.tolist(), (2 * np.searchsorted(lay.nodes, kids) + 1).tolist(), h[at].tolist()):
        label = quote_label(lin.ids[v])
        tokens[i] = _relabel(tokens[i], label, f"{label}#H{k}")
    length = [""] * len(c) if extra_lengths is None else _format_lengths(extra_lengths[plan.edge[drawn]])
    leaves = [f"{quote_label(lin.ids[v])}#H{k}{x}" for v, k, x in zip(c.tolist(), h.tolist(), length)]
    order = np.lexsort((h, p))
    ps = p[order]
    cuts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1], True])
    for v, a, b in zip(np.searchsorted(lay.nodes, ps[cuts[:-1]]).tolist(), cuts[:-1].tolist(), cuts[1:].tolist()):
        block = ",".join([leaves[i] for i in order[a:b].tolist()])
        i = 2 * v + 1
        tokens[i] = "," + block + tokens[i] if lay.internal[v] else "(" + block + ")" + tokens[i]


def _sample_new_parents(lin: Lineage, lay, tokens: np.ndarray, plan: Reticulations, zero: bool,
                        attributes) -> None:
    """With ``ancestors="tips"``: a sampled-ancestor tip for observed tree leaves that got
    hybrid children (first child, length 0, the node's label and NHX)."""
    parents = np.unique(plan.parent[plan.status == DRAWN])
    local = np.searchsorted(lay.nodes, parents)
    pick = ~lay.internal[local] & lin.observed[parents]
    nhx = _comments(attributes or {}, parents[pick], lin.n, "newick")
    for v, u, x in zip(local[pick].tolist(), parents[pick].tolist(), nhx):
        tokens[2 * v + 1] = "(" + quote_label(lin.ids[u]) + (":0" if zero else "") + x + "," + tokens[2 * v + 1][1:]


# -- reading -------------------------------------------------------------------------------------
@dataclass
class ParsedNetwork:
    """A network read from extended Newick: the tree of full occurrences plus hybrid edges."""

    names: np.ndarray                 # object array of labels, without #H suffixes
    parent: np.ndarray                # tree parent (of the full occurrence), -1 for the root
    length: np.ndarray                # of the tree edge, NaN when absent
    hybrid: np.ndarray                # k of #H<k> per node, 0 for tree nodes
    hybrid_child: np.ndarray          # reticulation edges, in text order
    hybrid_parent: np.ndarray
    hybrid_length: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.parent)


def _strip_suffixes(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """``text`` without ``#H<k>`` suffixes; the node (post-order) and k of each suffix."""
    toks = _TOKEN.findall(text)
    term = np.cumsum([len(t) == 1 and t in ",);" for t in toks])
    owner, number = [], []
    for i in [i for i, t in enumerate(toks) if "#" in t and t[0] not in "'["]:
        m = _SUFFIX.fullmatch(toks[i])
        if m:
            owner.append(term[i - 1] if i else 0)
            number.append(int(m.group(2)))
            toks[i] = m.group(1)
    return " ".join(toks), np.asarray(owner, np.int64), np.asarray(number, np.int64)


def _full_occurrences(tree, hyb: np.ndarray) -> np.ndarray:
    """For each node, the full occurrence of its hybrid (itself for tree nodes)."""
    n = tree.n
    kids = np.bincount(tree.parent[tree.parent >= 0], minlength=n)
    noted = np.zeros(n, bool)
    for values in tree.attributes.values():
        noted |= np.array([v is not None for v in values.tolist()], bool)
    noted[list(tree.comments)] = True
    occ = np.flatnonzero(hyb)
    # preference: has children, then has notes, then first in the text (lowest post-order index)
    key = np.lexsort((occ, ~noted[occ], kids[occ] == 0, hyb[occ]))
    occ = occ[key]
    first = _starts(hyb[occ])
    if (kids[occ[~first]] > 0).any():
        raise ValueError("a hybrid has two occurrences with children in the extended Newick text")
    full = np.arange(n)
    full[occ] = occ[first][np.cumsum(first) - 1]
    return full


def read_enewick(text: str, preserve_underscores: bool = False) -> ParsedNetwork:
    """The one network in ``text``; see the module docstring for the conventions."""
    stripped, owner, number = _strip_suffixes(text)
    tree = read_newick(stripped, preserve_underscores)
    hyb = np.zeros(tree.n, np.int64)
    if len(owner) and np.bincount(owner).max() > 1:
        raise ValueError("a node has two #H suffixes in the extended Newick text")
    hyb[owner] = number
    full = _full_occurrences(tree, hyb)
    keep = full == np.arange(tree.n)
    new = np.cumsum(keep) - 1
    leaf = np.flatnonzero(~keep)
    names = tree.names.copy()
    names[full[leaf]] = np.where(names[full[leaf]] == "", names[leaf], names[full[leaf]])
    parent = np.where(tree.parent[keep] >= 0, new[tree.parent[keep]], -1)
    return ParsedNetwork(names[keep], parent, tree.length[keep], hyb[keep], new[full[leaf]],
                         new[tree.parent[leaf]], tree.length[leaf],
                         {k: v[keep] for k, v in tree.attributes.items()},
                         {int(new[o]): c for o, c in tree.comments.items() if keep[o]})
