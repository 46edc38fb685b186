"""Newick / NHX writing from :class:`~phylohf.genealogy.lineage.Lineage` arrays, and a fast reader.

Everything is vectorised and recursion-free, so chains 100,000 deep and families of
millions of members are fine.

Writing
    The tree is laid out as an Euler tour (an *open* and a *close* event per node)
    whose positions follow from subtree sizes and pre-order numbers, and every event
    becomes one token: ``open(v)`` is ``,`` (if ``v`` has an earlier sibling) plus ``(``
    (if ``v`` has children); ``close(v)`` is ``)`` (if it has children), the label,
    ``:length`` and the NHX comment. Children come in node-index order. A
    :class:`Forest` lays out the families once and makes each piece of text (labels per
    dialect, lengths, the comment of each distinct combination of attribute values) once,
    so the writers of every format share them.

Conventions
    * Labels are written bare unless they contain whitespace, ``()[]{}':;,="#\\`` or
      ``_`` (standard readers turn bare underscores into blanks, ete3 reads ``"`` as a
      quote, dendropy splits bare labels at ``{ } = " \\``, and ``#`` marks hybrids in
      extended Newick); then they are wrapped in single quotes with embedded quotes
      doubled: ``x_y`` -> ``'x_y'``, ``it's`` -> ``'it''s'``. Everything else, line breaks
      and NUL included, is written as it is (Newick has no escapes). Every node, internal
      ones included, carries its model id.
    * ``dialect="nhx"``: as Newick, except that a label holding ``'`` but no ``"`` is
      double-quoted (``"it's"``), the one form of such a label ete3 reads (dendropy and
      Bio.Phylo do not: they get the ``"newick"`` text); :func:`read_newick` reads both.
    * Branch lengths are the shortest repr that round-trips (``1``, ``0.5``, ``1e-07``);
      NaN means "unknown" and is omitted; the root never has one.
    * ``ancestors="tips"`` writes each observed node that has children also as a
      *sampled ancestor*: a tip with the same label (and NHX attributes) as its first
      child, with length 0 when lengths are written, so tip-only tools see every model.
    * NHX values: numbers as written by ``repr`` (integers plainly), strings with the
      characters ``% : = [ ] , ( ) ; | ' " \\`` and whitespace percent-encoded as UTF-8
      (``a:b`` -> ``a%3Ab``); lists are their escaped items joined by ``|``. ``None``
      (and NaN) means "absent". :func:`read_newick` undoes the encoding and splits on
      ``|``: a value holding ``|`` comes back as a list of strings, any other as a
      string (so a one-item list reads back as its item; NHX has no types).
    * ``dialect="nexus"`` (for NEXUS TREES blocks, see :mod:`phylohf.export.nexus`) quotes
      labels holding any NEXUS punctuation ``()[]{}/\\,;:=*'"`+-<>``, ``_`` or whitespace,
      and writes attributes as BEAST/FigTree comments ``[&k=v,...]``: strings in double
      quotes, percent-encoding ``% " ' [ ] { } , = \\`` and whitespace (FigTree has no
      escape), lists ``{"a","b"}``, numbers as above.
    * What other readers make of the text (the README's recipes; tests/test_newick.py
      checks every other label exactly, and that these limits are real). All must read
      the file with ``newline=""``: a text-mode open turns CR LF and CR into LF.
      ete3 (``format=1, quoted_node_names=True``) splits doubled quotes (``KeyError``) and
      takes ``\\'`` for an escaped quote, so it cannot read a label ending in ``\\`` nor,
      in Newick, one holding ``'`` (NHX: one holding both ``'`` and ``"``); dendropy reads a
      label that is one of ``( ) , ; :`` alone as punctuation (tips are taxa, internal
      labels ``node.label``: taxa cannot repeat, as ``ancestors="tips"`` labels do); Bio.Phylo joins lines (a
      label loses its line breaks), misreads a label starting with ``'`` or holding ``\\'``
      or ending in ``\\``, and without ``comments_are_confidence=True`` reads numeric
      internal labels as confidence values.

Reading
    One compiled regular expression tokenises the text; node structure comes from the
    nesting levels by sorting (no stack, no recursion). Nodes are numbered in post-order
    (the root last). Bare labels have ``_`` turned into blanks (the Newick standard)
    unless ``preserve_underscores``; quoted labels lose their quotes and undouble
    embedded ones (double-quoted labels, as NHX writes some, are taken as they are). ``[&&NHX:...]`` comments become attributes; other comments (e.g.
    ``[&R]``, BEAST/FigTree ``[&...]``) are kept verbatim in ``comments`` when they follow
    a node, and dropped when they precede a tree.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np

from ..genealogy.lineage import NO_DATE, Lineage

_NEEDS_QUOTES = {"newick": re.compile(r"[\s()\[\]':;,_\"#{}=\\]"),
                 "nexus": re.compile(r"[\s()\[\]{}/\\,;:=*'\"`+\-<>_]")}
_NEEDS_QUOTES["nhx"] = _NEEDS_QUOTES["newick"]
_TO_NUL = {d: re.compile(f"(?:{p.pattern})[^\x00]*") for d, p in _NEEDS_QUOTES.items()}
_UNSAFE = {"newick": re.compile(r"""[%:=\[\],();|'"\\\s]"""),
           "nexus": re.compile(r"""[%"'\[\]{},=\\\s]""")}
_UNSAFE["nhx"] = _UNSAFE["newick"]
_NHX_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"[^"]*"|\[[^\]]*\]|[(),;:]|[^\s()\[\]'",;:]+|\S""")
LIST_SEP = "|"


# -- labels and values ---------------------------------------------------------------------
def quote_label(label: str, dialect: str = "newick") -> str:
    """A label as Newick (or NEXUS) text: bare when safe, else single-quoted, quotes doubled
    (NHX: a label holding ``'`` but no ``"`` is double-quoted, the form ete3 reads)."""
    return _quoted(label, dialect) if _NEEDS_QUOTES[dialect].search(label) else label


def _quoted(label: str, dialect: str) -> str:
    """``label`` quoted (see :func:`quote_label`)."""
    if dialect == "nhx" and "'" in label and '"' not in label:
        return f'"{label}"'
    return "'" + label.replace("'", "''") + "'"


def format_length(x: float) -> str:
    """Shortest round-trip text of a float, without a trailing ``.0``."""
    return repr(float(x)).removesuffix(".0")


def _string(s: str, dialect: str) -> str:
    """A string attribute value: percent-encoded, and double-quoted in NEXUS."""
    s = _UNSAFE[dialect].sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), s)
    return f'"{s}"' if dialect == "nexus" else s


def _value(v, dialect: str) -> str | None:
    """Comment text of one attribute value, ``None`` when absent."""
    if v is None or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return _string(v, dialect)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format_length(v)
    items = [_string(str(x), dialect) for x in v]
    return "{" + ",".join(items) + "}" if dialect == "nexus" else LIST_SEP.join(items)


def _comments(attributes: Mapping[str, np.ndarray], nodes: np.ndarray, n: int, dialect: str) -> np.ndarray:
    """``[&&NHX:k=v:...]`` (NEXUS: ``[&k=v,...]``) for each of ``nodes``, ``""`` when it has none."""
    return _written(_combinations(attributes, nodes, n), dialect)


def _combinations(attributes: Mapping[str, np.ndarray], nodes: np.ndarray, n: int
                  ) -> tuple[list[tuple[str, list, np.ndarray]], np.ndarray]:
    """The distinct combinations of attribute values of ``nodes``: per attribute (name, its
    distinct values, the value's code in each combination), and each node's combination."""
    combo, bound, cols = np.zeros(len(nodes), np.int64), 1, []
    for key, values in attributes.items():
        if not _NHX_KEY.fullmatch(key):
            raise ValueError(f"NHX attribute name {key!r} must match {_NHX_KEY.pattern}")
        if len(values) != n:
            raise ValueError(f"attribute {key!r} must have one value per node ({n}), got {len(values)}")
        codes, distinct = _codes(np.asarray(values, object)[nodes])
        if bound * len(distinct) >= 2**62:                               # renumber before it overflows
            _, combo = np.unique(combo, return_inverse=True)
            bound = len(nodes)
        combo, bound = combo * len(distinct) + codes, bound * max(len(distinct), 1)
        cols.append((key, distinct, codes))
    _, first, combo = np.unique(combo, return_index=True, return_inverse=True)
    return [(key, distinct, codes[first]) for key, distinct, codes in cols], combo


def _codes(values: np.ndarray) -> tuple[np.ndarray, list]:
    """The code of each value and the distinct values (lists compared as tuples; ``True``,
    ``1`` and ``1.0`` kept apart)."""
    values = values.tolist()
    keys = [tuple(v) if v.__class__ is list else v for v in values]
    one = dict(zip(keys, values))                                        # a value of each distinct key
    if len({k.__class__ for k in one} & {bool, int, float}) > 1:         # True == 1 == 1.0 as keys:
        keys = [(k.__class__, k) for k in keys]                          # tell them apart by type
        one = dict(zip(keys, values))
    code = {k: i for i, k in enumerate(one)}
    return np.fromiter(map(code.__getitem__, keys), np.int64, len(keys)), list(one.values())


def _written(combinations, dialect: str, fill: Mapping[str, str] | None = None) -> np.ndarray:
    """The comment of each node of :func:`_combinations`, each combination formatted once;
    ``fill``: attribute -> the value written where it is None."""
    cols, combo = combinations
    head, sep = ("[&", ",") if dialect == "nexus" else ("[&&NHX:", ":")
    fill = fill or {}
    texts = []
    for key, distinct, codes in cols:
        values = [fill[key] if v is None and key in fill else v for v in distinct]
        text = [None if (t := _value(v, dialect)) is None else f"{key}={t}" for v in values]
        texts.append([text[c] for c in codes.tolist()])
    count = int(combo.max()) + 1 if len(combo) else 0
    written = []
    for fields in zip(*texts) if texts else [()] * count:
        present = [f for f in fields if f is not None]
        written.append(head + sep.join(present) + "]" if present else "")
    return np.array(written, object)[combo]


def decode_nhx_value(raw: str) -> str | list[str]:
    """Undo the NHX value encoding (see the module docstring): split on ``|``, percent-decode."""
    if LIST_SEP in raw:
        return [unquote(x) for x in raw.split(LIST_SEP)]
    return unquote(raw)


# -- layout --------------------------------------------------------------------------------
def _quote_all(labels: list[str], dialect: str) -> np.ndarray:
    """:func:`quote_label` of every label, with one regex scan over all of them."""
    out = np.array(labels, object)
    big = "\x00".join(labels)
    # a match runs from a character that needs quotes to the next NUL: about one per label
    hits = [m.start() for m in _TO_NUL[dialect].finditer(big)]
    if hits:
        lens = np.fromiter(map(len, labels), np.int64, len(labels)) + 1
        which = np.searchsorted(np.cumsum(lens), hits, side="right")
        which = which[np.r_[True, which[1:] != which[:-1]]]
        out[which] = [_quoted(t, dialect) for t in out[which].tolist()]
    return out


def _format_lengths(vals: np.ndarray) -> np.ndarray:
    """``:length`` text of every value, ``""`` for NaN."""
    out = np.full(len(vals), "", object)
    ok = ~np.isnan(vals)
    v = vals[ok]
    if len(v) and (v == np.trunc(v)).all() and np.abs(v).max() < 2**53:
        out[ok] = list(map(":{}".format, v.astype(np.int64).tolist()))
    else:
        out[ok] = [":" + r.removesuffix(".0") for r in map(repr, v.tolist())]
    return out


@dataclass
class _Layout:
    nodes: np.ndarray      # sorted global indices of the nodes laid out
    events: np.ndarray     # event codes in output order: 2k open, 2k + 1 close (k local)
    first: np.ndarray      # bool: first child of its parent (no comma before it)
    internal: np.ndarray   # bool: has children
    size: np.ndarray       # subtree size


def _layout(lin: Lineage, tops: np.ndarray) -> _Layout:
    """Euler tour of the whole families of the family roots ``tops``, in that order.

    Subtree sizes go up and pre-order numbers down level by level; ``open(v)`` then
    sits at ``2 pre(v) - depth(v)`` and ``close(v)`` ``2 size(v) - 1`` events later.
    """
    nodes = np.flatnonzero(np.isin(lin.root, tops) if len(tops) > 1 else lin.root == tops[0])
    m = len(nodes)
    local = np.full(lin.n + 1, -1, np.int64)                        # global -> local, -1 -> -1
    local[nodes] = np.arange(m)
    par = local[lin.parent[nodes]]
    depth = lin.depth[nodes]
    order = np.argsort(depth, kind="stable")
    cut = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
    levels = [order[a:b] for a, b in zip(cut[1:-1].tolist(), cut[2:].tolist())]
    size = np.ones(m, np.int64)
    for lvl in reversed(levels):
        np.add.at(size, par[lvl], size[lvl])
    kids = np.argsort(par, kind="stable")[len(tops):]                # grouped by parent, index order
    first = np.ones(m, bool)
    first[kids[1:]] = par[kids[1:]] != par[kids[:-1]]
    before = np.cumsum(size[kids]) - size[kids]                      # sizes of earlier nodes in kids
    start = np.maximum.accumulate(np.where(first[kids], before, 0))
    offset = np.zeros(m, np.int64)
    offset[kids] = before - start                                    # sizes of earlier siblings
    t = local[tops]
    pre = np.zeros(m, np.int64)
    pre[t] = np.cumsum(size[t]) - size[t]
    for lvl in levels:
        pre[lvl] = pre[par[lvl]] + 1 + offset[lvl]
    events = np.empty(2 * m, np.int64)
    opened = 2 * pre - depth
    events[opened] = 2 * np.arange(m)
    events[opened + 2 * size - 1] = 2 * np.arange(m) + 1
    return _Layout(nodes, events, first, size > 1, size)


class Forest:
    """The families of ``roots`` (distinct family roots; default all) laid out once, with the
    pieces of text every format writes: labels per dialect, branch lengths and comments per
    dialect, each made when first needed, so the formats of one export share them.

    ``lengths``, ``ancestors`` and ``attributes`` are those of :func:`write_newick`; they are
    checked here. :meth:`tokens` gives the open and close token of every node, which
    :meth:`texts` joins family by family and :meth:`text` into one text.
    """

    def __init__(self, lineage: Lineage, roots: Iterable[int] | None = None, lengths=None,
                 ancestors: str = "internal", attributes: Mapping[str, np.ndarray] | None = None):
        roots = np.flatnonzero(lineage.parent < 0) if roots is None else np.fromiter(roots, np.int64)
        if (lineage.parent[roots] >= 0).any():
            raise ValueError("a forest is written from family roots; use write_newick for a subtree")
        ordered = np.sort(roots)
        if (ordered[1:] == ordered[:-1]).any():
            raise ValueError("roots must be distinct")
        if ancestors not in ("internal", "tips"):
            raise ValueError("ancestors must be 'internal' or 'tips'")
        if lengths is not None:
            lengths = np.asarray(lengths, float)
            if lengths.shape != (lineage.n,):
                raise ValueError(f"lengths must have one value per node ({lineage.n}), got shape {lengths.shape}")
        self.lineage, self.roots, self.lengths, self.ancestors = lineage, roots, lengths, ancestors
        self.attributes = dict(attributes or {})
        self.lay = _layout(lineage, roots) if len(roots) else None
        self.top = np.searchsorted(self.lay.nodes, roots) if len(roots) else roots
        if lengths is not None and len(roots) and np.isinf(lengths[self.lay.nodes]).any():
            raise ValueError("branch lengths must be finite (NaN means unknown)")
        self._made: dict = {}

    def _once(self, key, make):
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def labels(self, dialect: str) -> np.ndarray:
        """Every laid-out node's label, quoted for ``dialect``."""
        if dialect == "nhx":                     # Newick's, but a label with ' and no " double-quoted
            def make():
                ids, out = self.lineage.ids[self.lay.nodes], self.labels("newick").copy()
                quoted = np.flatnonzero(out != ids)
                out[quoted] = [_quoted(t, "nhx") for t in ids[quoted].tolist()]
                return out
            return self._once(("labels", dialect), make)
        return self._once(("labels", dialect), lambda: _quote_all(self.lineage.ids[self.lay.nodes].tolist(), dialect))

    def length_text(self) -> np.ndarray:
        """``:length`` of every laid-out node (``""`` where unknown, at the roots and without lengths)."""
        def make():
            if self.lengths is None:
                return np.full(len(self.lay.nodes), "", object)
            out = _format_lengths(self.lengths[self.lay.nodes])
            out[self.top] = ""
            return out
        return self._once("lengths", make)

    def comments(self, dialect: str, fill: Mapping[str, str] | None = None) -> np.ndarray:
        """The attribute comment of every laid-out node (``""`` when it has none); ``fill``:
        attribute -> the value written where it is absent (None)."""
        fill = dict(sorted((fill or {}).items()))
        head = "nexus" if dialect == "nexus" else "nhx"                  # Newick and NHX write the same
        combinations = self._once("combinations", lambda: _combinations(self.attributes, self.lay.nodes,
                                                                        self.lineage.n))
        return self._once(("comments", head, tuple(fill.items())), lambda: _written(combinations, head, fill))

    def tokens(self, dialect: str = "newick", annotated: bool = True,
               fill: Mapping[str, str] | None = None) -> np.ndarray:
        """Open and close tokens of every node laid out, interleaved (2k open, 2k + 1 close), in a
        new array; with the attribute comments when ``annotated`` (see :meth:`comments`)."""
        if dialect not in _NEEDS_QUOTES:
            raise ValueError("dialect must be 'newick', 'nhx' or 'nexus'")
        lay = self.lay
        if lay is None:
            return np.empty(0, object)
        labels = self.labels(dialect)
        close = self._once(("close", dialect), lambda: np.where(lay.internal, ")", "").astype(object)
                           + labels + self.length_text())
        comments = self.comments(dialect, fill) if annotated else np.full(len(lay.nodes), "", object)
        if annotated:
            close = close + comments
        def make():
            comma = np.where(lay.first, "", ",")
            comma[self.top] = ""
            return comma.astype(object) + np.where(lay.internal, "(", "")
        opening = self._once("opening", make)
        if self.ancestors == "tips":
            sampled = lay.internal & self.lineage.observed[lay.nodes]
            opening = opening.copy()
            opening[sampled] += labels[sampled] + ("" if self.lengths is None else ":0") + comments[sampled] + ","
        out = np.empty(2 * len(lay.nodes), object)
        out[0::2], out[1::2] = opening, close
        return out

    def texts(self, tokens: np.ndarray) -> Iterator[tuple[int, str]]:
        """``(root, text)`` per family, its tokens joined in text order and closed by ``;``."""
        if self.lay is None:
            return iter(())
        joined = tokens[self.lay.events].tolist()
        bounds = np.r_[0, np.cumsum(2 * self.lay.size[self.top])]
        return ((r, "".join(joined[a:b]) + ";")
                for r, a, b in zip(self.roots.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()))

    def text(self, tokens: np.ndarray, before: np.ndarray | None = None) -> str:
        """Every family as a line: ``before`` (a text per root) when given, its tokens, ``;``.
        ``tokens`` is changed."""
        if self.lay is None:
            return ""
        tokens[2 * self.top + 1] += ";\n"
        if before is not None:
            tokens[2 * self.top] = before + tokens[2 * self.top]
        return "".join(tokens[self.lay.events].tolist())


# -- writing ---------------------------------------------------------------------------------
def write_newick(lineage: Lineage, root: int, lengths=None, ancestors: str = "internal",
                 attributes: Mapping[str, np.ndarray] | None = None, dialect: str = "newick") -> str:
    """The tree below node ``root`` as one Newick/NHX string ending in ``;``.

    ``lengths``: float per node, the edge above it (NaN: unknown). ``ancestors``:
    ``"internal"`` (models as labelled internal nodes) or ``"tips"`` (also as sampled
    ancestor tips). ``attributes``: name -> array over nodes, written as NHX comments.
    ``dialect``: ``"newick"``, ``"nhx"`` (Newick, but labels with ``'`` double-quoted for
    ete3) or ``"nexus"`` (NEXUS quoting and BEAST/FigTree comments).
    See the module docstring for quoting and escaping.
    """
    root = int(root)
    forest = Forest(lineage, [lineage.root[root]], lengths, ancestors, attributes)
    lay = forest.lay
    r = np.searchsorted(lay.nodes, root)
    a = np.flatnonzero(lay.events == 2 * r)[0]
    forest.top = np.array([r])                       # written as the root: no comma, no length
    tokens = forest.tokens(dialect)
    return "".join(tokens[lay.events[a:a + 2 * lay.size[r]]].tolist()) + ";"


def write_forest(lineage: Lineage, roots: Iterable[int] | None = None, lengths=None,
                 ancestors: str = "internal",
                 attributes: Mapping[str, np.ndarray] | None = None,
                 dialect: str = "newick") -> Iterator[tuple[int, str]]:
    """``(root, newick)`` for every family root in ``roots`` (default: all families).

    One vectorised pass over all the families, so writing ~10^6 families is fast; the
    options are those of :func:`write_newick`. Arguments are checked on the call; the
    strings are joined as the iterator is consumed.
    """
    forest = Forest(lineage, roots, lengths, ancestors, attributes)
    return forest.texts(forest.tokens(dialect)) if forest.lay is not None else iter(())


# -- reading ---------------------------------------------------------------------------------
@dataclass
class ParsedTree:
    """A tree read from Newick, as index arrays over its nodes (post-order, root last)."""

    names: np.ndarray                     # object array of labels ("" when unlabelled)
    parent: np.ndarray                    # int64, -1 for the root
    length: np.ndarray                    # float, NaN when absent
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # NHX: name -> values (None absent)
    comments: dict[int, list[str]] = field(default_factory=dict)     # other comments, verbatim

    @property
    def n(self) -> int:
        return len(self.parent)


# token kinds, from the first character of each token
_LABEL, _OPEN, _CLOSE, _COMMA, _SEMI, _COLON, _COMMENT, _QUOTED, _STRAY = range(9)
_KIND = np.zeros(128, np.int8)                                       # ASCII -> kind, the rest _LABEL
_KIND[[ord(c) for c in "(),;:[']"]] = np.arange(_OPEN, _STRAY + 1)
_KIND[ord('"')] = _QUOTED


def _structure(kind: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Terminator positions, parent of each node, tree number of each node.

    Each node ends at one terminator (``,``, ``)`` or ``;``), so terminators in order
    are the nodes in post-order; a node's parent is the next one a level further out.
    """
    step = (kind == _OPEN).astype(np.int64) - (kind == _CLOSE)
    after = np.cumsum(step)
    level = after - step                                             # open groups before each token
    term = np.flatnonzero((kind >= _CLOSE) & (kind <= _SEMI))
    semi = kind[term] == _SEMI
    lvl = level[term]
    if (after < 0).any() or (lvl[semi] != 0).any() or (len(after) and after[-1] != 0):
        raise ValueError(f"unbalanced parentheses in Newick text {where}")
    if not len(term) or not semi[-1]:
        raise ValueError(f"Newick text must end each tree with ';' {where}")
    if ((lvl == 0) & ~semi).any():
        raise ValueError(f"',' outside parentheses in Newick text {where}")
    n = len(term)
    key = np.sort(lvl * (n + 1) + np.arange(n))
    up = key[np.minimum(np.searchsorted(key, (lvl - 1) * (n + 1) + np.arange(n)), n - 1)]
    return term, np.where(semi, -1, up % (n + 1)), np.cumsum(semi) - semi


def _parse(text: str, preserve_underscores: bool) -> tuple[ParsedTree, np.ndarray]:
    """All trees in ``text`` as one forest, and the tree number of each node."""
    toks = _TOKEN.findall(text)
    where = f"({len(text)} characters starting {text[:40]!r})"
    heads = "".join([t[0] for t in toks]).encode("utf-32-le")
    kind = _KIND[np.minimum(np.frombuffer(heads, np.uint32), 127)]
    odd = np.flatnonzero(kind >= _COMMENT)
    bad = [i for i in odd.tolist() if len(toks[i]) == 1 or kind[i] == _STRAY]
    if bad:
        raise ValueError(f"unterminated quote or comment at {toks[bad[0]]!r} {where}")
    term, parent, tree = _structure(kind, where)
    struct = np.flatnonzero((kind >= _OPEN) & (kind <= _SEMI))
    data = np.flatnonzero((kind < _OPEN) | (kind > _SEMI))
    dkind = kind[data]
    nxt = np.minimum(np.searchsorted(struct, data), len(struct) - 1)
    owner = np.searchsorted(term, struct[nxt])                       # the node each data token describes
    owner[(data > struct[nxt]) | (kind[struct[nxt]] == _OPEN)] = -1  # after the last ';' or before a '('
    is_label = (dkind == _LABEL) | (dkind == _QUOTED)
    if (is_label & (owner < 0)).any():
        raise ValueError(f"label outside a node in Newick text {where}")
    after_colon = np.r_[False, (dkind[:-1] == _COLON) & (owner[1:] == owner[:-1])] & is_label
    if (dkind == _COLON).sum() != after_colon.sum():
        raise ValueError(f"':' without a branch length in Newick text {where}")
    n = len(term)
    name_at = is_label & ~after_colon
    if name_at.any() and np.bincount(owner[name_at]).max() > 1:
        raise ValueError(f"a node has two labels in Newick text {where}")
    names = np.full(n, "", object)
    for quoted in (False, True):
        at = name_at & ((dkind == _QUOTED) == quoted)
        texts = [toks[i] for i in data[at].tolist()]
        if quoted:
            texts = [t[1:-1].replace("''", "'") if t[0] == "'" else t[1:-1] for t in texts]
        elif not preserve_underscores:
            texts = [t.replace("_", " ") for t in texts]
        names[owner[at]] = texts
    length = np.full(n, np.nan)
    texts = [toks[i] for i in data[after_colon].tolist()]
    length[owner[after_colon]] = np.fromiter(map(float, texts), float, len(texts))
    attributes: dict[str, np.ndarray] = {}
    comments: dict[int, list[str]] = {}
    at = (dkind == _COMMENT) & (owner >= 0)
    for i, o in zip(data[at].tolist(), owner[at].tolist()):
        if toks[i].startswith("[&&NHX:"):
            for k, _, v in (f.partition("=") for f in toks[i][7:-1].split(":") if f):
                attributes.setdefault(k, np.full(n, None, object))[o] = decode_nhx_value(v)
        else:
            comments.setdefault(o, []).append(toks[i][1:-1])
    return ParsedTree(names, parent, length, attributes, comments), tree


def read_newick_trees(text: str, preserve_underscores: bool = False) -> list[ParsedTree]:
    """Every tree in ``text`` (each ending in ``;``)."""
    forest, tree = _parse(text, preserve_underscores)
    bounds = np.r_[0, np.cumsum(np.bincount(tree))]
    out = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        out.append(ParsedTree(forest.names[a:b], np.where(forest.parent[a:b] >= 0, forest.parent[a:b] - a, -1),
                              forest.length[a:b], {k: v[a:b] for k, v in forest.attributes.items()},
                              {o - a: c for o, c in forest.comments.items() if a <= o < b}))
    return out


def read_newick(text: str, preserve_underscores: bool = False) -> ParsedTree:
    """The one tree in ``text``; see the module docstring for what is read how."""
    forest, tree = _parse(text, preserve_underscores)
    if tree[-1] != 0:
        raise ValueError(f"expected one tree, found {tree[-1] + 1}; use read_newick_trees")
    return forest


def tree_lineage(tree: ParsedTree) -> tuple[Lineage, np.ndarray]:
    """A parsed tree as a :class:`Lineage` (nodes in the tree's order; unlabelled nodes named
    ``node<i>``) and its branch lengths (NaN where absent)."""
    names = np.array([name or f"node{i}" for i, name in enumerate(tree.names.tolist())], object)
    child = np.flatnonzero(tree.parent >= 0)
    lineage = Lineage.from_edges(names, np.ones(tree.n, bool), np.full(tree.n, NO_DATE),
                                 child, tree.parent[child], np.ones(len(child), np.int64),
                                 np.zeros(len(child), np.int8))
    return lineage, tree.length.copy()
