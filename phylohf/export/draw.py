"""Drawing family trees: ete3 figures (PNG, SVG, PDF, or its interactive window), with a
matplotlib fallback when PyQt5 is missing.

:func:`drawing` chooses what to draw as index arrays over the family, in pre-order:

* colours come from one node attribute of the NHX/NEXUS exports
  (:func:`phylohf.export.trees.node_attributes`: license, languages, task, library,
  relation, observed); the ``top`` most frequent values of the family get a colour, the
  rest are ``(rare)``, models without a value ``?``;
* ``collapse_by``: every subtree (below the root) whose members all share that
  attribute's value becomes one triangle labelled with its size;
* ``max_nodes``: if more nodes remain, the smallest clades are collapsed first (every
  clade of at most T members, T the smallest threshold that fits), then the leaves and
  triangles under one parent that share a colour are grouped into one triangle.

Edges carry their relation (line style, a square marker for merges); placeholders
(absent parents) are hollow; models with further merge parents name them. Labels are
model ids, shortened in the middle with an ellipsis when long, never two alike.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .newick import _layout
from .nexus import MISSING
from ..genealogy.lineage import Lineage, subtree_sizes
from ..genealogy.traits import RARE

ATTRIBUTES = ("license", "languages", "task", "library", "relation", "observed")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")                       # tab10, grey last
GREY = {MISSING: "#b0b0b0", RARE: "#555555"}
MIXED = "#c8c8c8"                                                   # triangles of several colours
RELATION_LINE = {"finetune": "solid", "adapter": "dashed", "quantized": "dotted", "merge": "solid"}
LABEL_WIDTH = 36
FORMATS = (".png", ".svg", ".pdf")


VIEW_EXTRA = 'pip install "phylohf[view]"'


class ViewExtraMissing(UserWarning):
    """PyQt5 is not installed: figures come from matplotlib instead of ete3."""


class MissingExtra(ValueError):
    """A drawing or figure needs a package of the ``[view]`` extra that is not installed."""


@dataclass
class Drawing:
    """What to draw of one family: nodes in pre-order (parents first), as arrays."""

    root_id: str
    color_by: str
    family_size: int
    family_observed: int
    family_depth: int
    node: np.ndarray          # lineage index of each drawn node
    parent: np.ndarray        # position of the drawn parent, -1 for the root
    depth: np.ndarray         # generations below the root
    label: np.ndarray         # shortened model id (triangles: with their size)
    value: np.ndarray         # colour key: a legend value, or "" for a triangle of mixed values
    relation: np.ndarray      # of the edge above (None for the root)
    observed: np.ndarray      # False for placeholders
    members: np.ndarray       # models a node stands for (1, or a triangle's size)
    triangle: np.ndarray      # bool
    merge_parents: np.ndarray  # shortened ids of the further parents, or None
    colors: dict[str, str]    # legend: value -> colour, most frequent first
    counts: dict[str, int]    # models of the family per legend value
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.node)

    @property
    def title(self) -> str:
        return (f"{self.root_id}: {self.family_size:,} models ({self.family_observed:,} observed), "
                f"depth {self.family_depth}; colour: {self.color_by}")

    def color(self) -> np.ndarray:
        """Hex colour of every drawn node."""
        return np.array([self.colors.get(v, MIXED) for v in self.value.tolist()], object)


def _text(values: np.ndarray) -> np.ndarray:
    """Attribute values as legend keys: lists joined by ``+``, absent as ``?``."""
    return np.array([MISSING if v is None else "+".join(v) if isinstance(v, list) else str(v)
                     for v in values.tolist()], object)


def _uniform(key: np.ndarray, parent: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Per node (pre-order): do all members of its subtree share its ``key``?"""
    child = np.flatnonzero(parent >= 0)
    change = np.zeros(len(key) + 1, np.int64)
    change[parent[child[key[child] != key[parent[child]]]] + 1] = 1   # nodes with a differing child
    below = np.cumsum(change)
    pos = np.arange(len(key))
    return below[pos + size] == below[pos]


def shorten(ids: list[str], width: int = LABEL_WIDTH) -> list[str]:
    """Ids longer than ``width`` cut in the middle with an ellipsis; widened where two would meet."""
    out = np.array(ids, object)
    full = out.copy()
    lengths = np.fromiter(map(len, ids), np.int64, len(ids))
    w = width
    todo = np.flatnonzero(lengths > w)
    while len(todo):
        head = (w - 1) // 2
        out[todo] = [s[:head] + "…" + s[len(s) - (w - 1 - head):] for s in full[todo].tolist()]
        _, inverse, counts = np.unique(out.astype(str), return_inverse=True, return_counts=True)
        clash = counts[inverse] > 1
        todo = np.flatnonzero(clash & (lengths > w + 8))
        out[clash & (lengths <= w + 8)] = full[clash & (lengths <= w + 8)]
        w += 8
    return out.tolist()


def preorder(lineage: Lineage, root: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The family rooted at ``root`` in pre-order: (lineage index, position of the parent
    or -1, subtree size) of every member."""
    lay = _layout(lineage, np.array([root]))
    pre = lay.events[lay.events % 2 == 0] // 2                      # local indices in pre-order
    node, size = lay.nodes[pre], lay.size[pre]
    rank = np.empty(len(node), np.int64)
    rank[pre] = np.arange(len(node))
    par = np.full(len(node), -1, np.int64)
    par[1:] = rank[np.searchsorted(lay.nodes, lineage.parent[node[1:]])]
    return node, par, size


def legend(raw: np.ndarray, top: int = 9) -> tuple[np.ndarray, dict[str, str], dict[str, int]]:
    """Colour keys of legend texts ``raw`` (as :func:`_text` gives): the ``top`` most frequent
    values keep theirs, the rest become ``(rare)``; (key per node, value -> colour, value ->
    models), most frequent first."""
    values, counts = np.unique(raw, return_counts=True)
    order = np.lexsort((values, -counts))
    named = [v for v in values[order].tolist() if v != MISSING][:top]
    key = np.where(np.isin(raw, named) | (raw == MISSING), raw, RARE)
    shown = named + [v for v in (RARE, MISSING) if (key == v).any()]
    counted = dict(zip(*np.unique(key, return_counts=True)))
    return key, {v: GREY.get(v, PALETTE[i % len(PALETTE)]) for i, v in enumerate(shown)}, \
        {v: int(counted[v]) for v in shown}


def drawing(lineage: Lineage, genome, root: int, color_by: str = "license", collapse_by: str | None = None,
            max_nodes: int = 2000, top: int = 9) -> Drawing:
    """The drawing of the family rooted at node ``root`` (see the module docstring)."""
    from .trees import node_attributes      # the exporters only when drawing, not for --help
    for name in (color_by, collapse_by):
        if name is not None and name not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r}: expected one of {', '.join(ATTRIBUTES)}")
    if max_nodes < 2:
        raise ValueError("max_nodes must be at least 2")
    if lineage.parent[root] >= 0:
        raise ValueError(f"{lineage.ids[root]!r} is not a family root; its family is "
                         f"{lineage.ids[lineage.root[root]]!r}")
    node, par, size = preorder(lineage, root)
    m = len(node)
    attrs = node_attributes(lineage, genome, node)
    key, colors, counts = legend(_text(attrs[color_by][node]), top)
    notes: list[str] = []

    depth = lineage.depth[node] - lineage.depth[root]
    is_root = par < 0
    psize = np.where(is_root, m + 1, size[np.maximum(par, 0)])
    inside = np.zeros(m, bool)                                      # strictly inside a trait triangle
    tops = np.zeros(m, bool)
    if collapse_by is not None:
        uni = _uniform(_text(attrs[collapse_by][node]), par, size)
        inside[~is_root] = uni[par[~is_root]] & ~is_root[par[~is_root]]
        tops = uni & (size > 1) & ~inside & ~is_root
        if tops.any():
            notes.append(f"{int(tops.sum()):,} clades whose {int(size[tops].sum()):,} models share one "
                         f"{collapse_by} drawn as triangles")
    uni_color = _uniform(key, par, size)
    base = dict(node=node, parent=par, depth=depth, size=size, psize=psize, inside=inside, tops=tops,
                key=key, uni_color=uni_color)
    first: list[str] = []
    d = _collapsed(base, 0, max_nodes, first)
    if len(d["node"]) <= max_nodes:
        notes += first
    else:                                                           # smallest clades first: the
        cand = np.unique(size[(size > 1) & ~is_root]).tolist()      # lowest threshold that fits
        lo, hi = 0, len(cand) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if len(_collapsed(base, cand[mid], max_nodes, [])["node"]) <= max_nodes else (mid + 1, hi)
        d = _collapsed(base, cand[lo], max_nodes, notes)
    ids = lineage.ids[d["node"]].tolist()
    label = np.array(shorten(ids), object)
    label[d["triangle"]] = [f"{lab} [{k:,} models]" for lab, k in zip(label[d["triangle"]].tolist(),
                                                                     d["members"][d["triangle"]].tolist())]
    merges = attrs["merge_parents"][d["node"]]
    has = np.flatnonzero([mp is not None for mp in merges.tolist()])
    merges[has] = [", ".join(shorten(list(mp))) for mp in merges[has].tolist()]
    merges[d["triangle"]] = None
    fam_depth = int(depth.max())
    return Drawing(root_id=str(lineage.ids[root]), color_by=color_by, family_size=m,
                   family_observed=int(lineage.observed[node].sum()), family_depth=fam_depth,
                   label=label, relation=attrs["relation"][d["node"]], observed=lineage.observed[d["node"]],
                   merge_parents=merges, colors=colors, counts=counts,
                   notes=notes, **d)


def _collapsed(b: dict, threshold: int, max_nodes: int, notes: list[str]) -> dict:
    """Drawn nodes when clades of at most ``threshold`` members (and trait clades) are triangles,
    with same-coloured sibling leaves grouped if still above ``max_nodes``; notes appended."""
    size = b["size"]
    shown = ~b["inside"] & (b["psize"] > threshold)
    small = shown & (size > 1) & (size <= threshold)
    tri = small | (shown & b["tops"])
    if threshold:
        notes.append(f"{int(small.sum()):,} clades of at most {threshold:,} models "
                     f"({int(size[small].sum()):,} models) collapsed to stay within {max_nodes:,} nodes")
    d = _subset(dict(node=b["node"], parent=b["parent"], depth=b["depth"], members=np.where(tri, size, 1),
                     triangle=tri, value=np.where(~tri | b["uni_color"], b["key"], "").astype(object)), shown)
    return _group_siblings(d, max_nodes, notes) if len(d["node"]) > max_nodes else d


def _subset(d: dict, keep: np.ndarray) -> dict:
    """The arrays of ``d`` at the nodes ``keep`` (a mask closed under parents), parents renumbered."""
    at = np.flatnonzero(keep)
    remap = np.full(len(keep), -1, np.int64)
    remap[at] = np.arange(len(at))
    out = {k: v[at] for k, v in d.items()}
    out["parent"] = np.where(out["parent"] >= 0, remap[np.maximum(out["parent"], 0)], -1)
    return out


def _group_siblings(d: dict, max_nodes: int, notes: list[str]) -> dict:
    """Group the leaves and triangles under one parent that share a colour into one triangle."""
    n = len(d["node"])
    has_child = np.zeros(n, bool)
    has_child[d["parent"][d["parent"] >= 0]] = True
    loose = ~has_child & (d["parent"] >= 0)
    _, code = np.unique(d["value"].astype(str), return_inverse=True)
    key = d["parent"][loose] * (code.max() + 1) + code[loose]
    _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    at = np.flatnonzero(loose)
    lead = at[first]                                                 # the first sibling stands for them
    members = np.bincount(inverse, weights=d["members"][at]).astype(np.int64)
    drop = np.zeros(n, bool)
    drop[at] = True
    drop[lead] = False
    grouped = counts > 1
    d = {k: v.copy() for k, v in d.items()}
    d["members"][lead] = members
    d["triangle"][lead[grouped]] = True
    out = _subset(d, ~drop)
    notes.append(f"{int(counts[grouped].sum()):,} sibling leaves and triangles of one colour grouped into "
                 f"{int(grouped.sum()):,} triangles (labelled by their first member)")
    if len(out["node"]) > max_nodes:
        notes.append(f"{len(out['node']):,} nodes remain: the tree is wider than {max_nodes:,} nodes at its top")
    return out


def draw_family(lineage: Lineage, genome, root: int, out: str | Path, color_by: str = "license",
                collapse_by: str | None = None, max_nodes: int = 2000, layout: str = "rectangular",
                engine: str = "auto") -> tuple[Drawing, str]:
    """:func:`drawing` then :func:`render`: ``(the drawing, the engine used)``."""
    d = drawing(lineage, genome, root, color_by, collapse_by, max_nodes)
    return d, render(d, out, layout, engine)


# -- rendering -------------------------------------------------------------------------------
def headless() -> None:
    """Let Qt render without a screen (``QT_QPA_PLATFORM=offscreen``) when no display is set,
    with a private runtime directory if the session has none (Qt warns otherwise)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        if not os.environ.get("XDG_RUNTIME_DIR"):
            os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="phylohf-qt-")   # mode 0700


def _importable(module: str) -> bool:
    try:
        __import__(module)                  # as `import a.b`: a (then a.b) must import
    except ImportError:
        return False
    return True


def has_qt() -> bool:
    """Is PyQt5 (ete3's renderer) importable?"""
    return _importable("PyQt5.QtGui")


def require_matplotlib(what: str) -> None:
    """Raise :class:`MissingExtra` naming ``what`` unless matplotlib is importable."""
    if not _importable("matplotlib"):
        raise MissingExtra(f"{what} needs matplotlib, which is not installed: {VIEW_EXTRA}")


def render(d: Drawing, out: str | Path, layout: str = "rectangular", engine: str = "auto") -> str:
    """Write ``d`` to ``out`` (.png, .svg or .pdf); returns the engine used.

    ``engine``: ``"ete3"``, ``"matplotlib"``, or ``"auto"``: ete3 when PyQt5 is installed,
    else matplotlib (with a warning, once, that the ``[view]`` extra gives ete3's renderer).
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: the figure must end in {', '.join(FORMATS)}")
    if layout not in ("rectangular", "circular"):
        raise ValueError(f"layout must be 'rectangular' or 'circular', not {layout!r}")
    if engine == "auto":
        engine = "ete3" if has_qt() else "matplotlib"
        if engine == "matplotlib":
            require_matplotlib("drawing without PyQt5 (ete3's renderer)")
            warnings.warn(f"PyQt5 is not installed: drawing with matplotlib; {VIEW_EXTRA} "
                          "for ete3's renderer", ViewExtraMissing, stacklevel=2)
    if engine == "ete3":
        if not has_qt():
            raise MissingExtra(f"ete3's renderer needs PyQt5, which is not installed: {VIEW_EXTRA} "
                               "(or use --engine matplotlib)")
        tree, style = ete_tree(d, layout)
        tree.render(str(out), tree_style=style, w=1400 if layout == "rectangular" else 2000, units="px")
    elif engine == "matplotlib":
        require_matplotlib("--engine matplotlib")
        _matplotlib(d, out, layout)
    else:
        raise ValueError(f"engine must be 'auto', 'ete3' or 'matplotlib', not {engine!r}")
    return engine


def view(d: Drawing, layout: str = "rectangular") -> None:
    """Open ``d`` in ete3's interactive window (needs PyQt5 and a display)."""
    if not has_qt():
        raise MissingExtra(f"the viewer needs PyQt5, which is not installed: {VIEW_EXTRA}")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ValueError("no display to open a window on: use `phylohf draw --out FILE.png`, "
                         "or run under `xvfb-run -a`")
    tree, style = ete_tree(d, layout)
    tree.show(tree_style=style)


def _qapp() -> None:
    """Start the Qt application ete3 would start on rendering (text items need it earlier)."""
    from ete3.treeview import drawer
    from PyQt5.QtWidgets import QApplication
    if drawer._QApp is None:
        drawer._QApp = QApplication.instance() or QApplication(["ETE"])


def _face(qitem):
    """A Qt graphics item as an ete3 face (ete3 sizes faces by ``rect()``)."""
    from ete3 import StaticItemFace
    qitem.rect = qitem.boundingRect
    return StaticItemFace(qitem)


def _legend_row(symbol, text: str, bold: bool = False):
    """One legend row as a single face (ete3 stacks face columns independently, unaligned)."""
    from PyQt5.QtCore import Qt
    from PyQt5.QtGui import QFont, QPen
    from PyQt5.QtWidgets import QGraphicsRectItem, QGraphicsSimpleTextItem
    row = QGraphicsRectItem(0, 0, 0, 16)
    row.setPen(QPen(Qt.NoPen))
    label = QGraphicsSimpleTextItem(text, row)
    label.setFont(QFont("Sans", 8, QFont.Bold if bold else QFont.Normal))
    label.setPos(34, 8 - label.boundingRect().height() / 2)
    if symbol is not None:
        symbol.setParentItem(row)
        symbol.setPos(0, 8 - symbol.boundingRect().height() / 2)
    row.setRect(0, 0, 34 + label.boundingRect().width(), 16)
    return _face(row)


def _rect(color: str):
    from PyQt5.QtGui import QBrush, QColor
    from PyQt5.QtWidgets import QGraphicsRectItem
    item = QGraphicsRectItem(0, 0, 10, 10)
    item.setBrush(QBrush(QColor(color)))
    item.setPen(QColor(color))
    return item


def _pen(color: str, width: float):
    from PyQt5.QtGui import QColor, QPen
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    return pen


def _triangle(color: str, members: int):
    from PyQt5.QtCore import QPointF
    from PyQt5.QtGui import QBrush, QColor, QPolygonF
    from PyQt5.QtWidgets import QGraphicsPolygonItem
    w, h = 12 + 6 * np.log10(members), 4 + 2 * np.log10(members)
    item = QGraphicsPolygonItem(QPolygonF([QPointF(0, h), QPointF(w, 0), QPointF(w, 2 * h)]))
    item.setBrush(QBrush(QColor(color)))
    item.setPen(_pen("#333333", 0.5))
    return item


def _ring(color: str, radius: float = 4):
    from PyQt5.QtCore import Qt
    from PyQt5.QtGui import QBrush
    from PyQt5.QtWidgets import QGraphicsEllipseItem
    item = QGraphicsEllipseItem(0, 0, 2 * radius, 2 * radius)
    item.setPen(_pen(color, 1.5))
    item.setBrush(QBrush(Qt.NoBrush))
    return item


def _line(style: str):
    from PyQt5.QtCore import Qt
    from PyQt5.QtGui import QPen
    from PyQt5.QtWidgets import QGraphicsLineItem
    item = QGraphicsLineItem(0, 6, 28, 6)
    item.setPen(QPen(Qt.black, 2, {"solid": Qt.SolidLine, "dashed": Qt.DashLine, "dotted": Qt.DotLine}[style]))
    return item


def ete_tree(d: Drawing, layout: str = "rectangular"):
    """``(ete3 Tree, TreeStyle)`` of a drawing, one ete3 node per drawn node."""
    headless()
    _qapp()
    from ete3 import NodeStyle, TextFace, Tree, TreeStyle
    colors = d.color()
    line = {"solid": 0, "dashed": 1, "dotted": 2}
    nodes = [Tree(name=d.label[0])]
    for p, name in zip(d.parent[1:].tolist(), d.label[1:].tolist()):
        nodes.append(nodes[p].add_child(name=name))
    leaf = np.ones(len(d), bool)
    leaf[d.parent[d.parent >= 0]] = False
    for i, t in enumerate(nodes):
        rel, color = d.relation[i], colors[i]
        ns = NodeStyle()
        ns["fgcolor"] = ns["hz_line_color"] = color
        ns["vt_line_color"] = color
        ns["hz_line_width"] = ns["vt_line_width"] = 2
        ns["hz_line_type"] = line[RELATION_LINE.get(rel, "solid")]
        ns["shape"] = "square" if rel == "merge" else "circle"
        ns["size"] = 7 if d.observed[i] and not d.triangle[i] else 0
        t.set_style(ns)
        if d.triangle[i]:
            t.add_face(_face(_triangle(color, d.members[i])), column=0, position="branch-right")
        elif not d.observed[i]:
            t.add_face(_face(_ring(color)), column=0, position="branch-right")
        t.add_face(TextFace(f" {d.label[i]}", fsize=8), column=1,
                   position="branch-right" if leaf[i] else "branch-top")
        if d.merge_parents[i]:
            t.add_face(TextFace(f"  + merge of {d.merge_parents[i]}", fsize=7, fgcolor="#666666",
                                fstyle="italic"), column=2, position="branch-right" if leaf[i] else "branch-bottom")
    ts = TreeStyle()
    ts.mode = "c" if layout == "circular" else "r"
    ts.show_leaf_name = False
    ts.show_scale = False
    ts.branch_vertical_margin = 2
    ts.title.add_face(TextFace(d.title, fsize=11, bold=True), column=0)
    for note in d.notes:
        ts.title.add_face(TextFace(f"collapsed: {note}", fsize=8, fgcolor="#444444"), column=0)
    ts.legend_position = 1
    rows = [(None, f"{d.color_by} (models)")]
    rows += [(_rect(c), f"{v} ({d.counts[v]:,})") for v, c in d.colors.items()]
    if (~d.observed).any():
        rows.append((_ring("#333333"), "placeholder (absent parent)"))
    if d.triangle.any():
        rows.append((_triangle(MIXED, 10), "collapsed clade [models]"))
    rows += [(_line(RELATION_LINE[r]), r) for r in ("finetune", "adapter", "quantized")]
    rows.append((_rect("#333333"), "merge (square node; + names further parents)"))
    for symbol, text in rows:
        ts.legend.add_face(_legend_row(symbol, text, bold=symbol is None), column=0)
    return nodes[0], ts


def coordinates(d: Drawing) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of every drawn node: x its generation, y the midpoint of its leaves' rows."""
    size = subtree_sizes(d.parent, d.depth)
    leaf = size == 1
    before = np.r_[0, np.cumsum(leaf)]                          # leaves before each pre-order position
    pos = np.arange(len(d))
    return d.depth.astype(float), (before[pos] + before[pos + size] - 1) / 2.0


def _matplotlib(d: Drawing, out: Path, layout: str) -> None:
    """The fallback figure: the same tree, colours, markers and legend with matplotlib."""
    import matplotlib
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    x, y = coordinates(d)
    rows = max(int(y.max()) + 1, 1)
    circular = layout == "circular"

    def at(gen, row):                                           # (generation, row) -> plot coordinates
        if not circular:
            return np.stack([gen, row], -1)
        a = 2 * np.pi * np.asarray(row) / rows
        return np.stack([gen * np.cos(a), gen * np.sin(a)], -1)

    color = d.color()
    child = np.flatnonzero(d.parent >= 0)
    p = d.parent[child]
    t = np.linspace(0, 1, 16 if circular else 2)[None, :]       # the parent's vertical line (an arc)
    elbows = at(np.repeat(x[p][:, None], t.shape[1], 1), y[p][:, None] + (y[child] - y[p])[:, None] * t)
    branches = np.stack([at(x[p], y[child]), at(x[child], y[child])], 1)
    height = 16.0 if circular else min(max(4.0, 0.16 * rows + 2), 300.0)
    top = 0.98 - 1.2 / height
    fig = Figure(figsize=(16 if circular else 14, height))
    ax = fig.add_axes((0.01, 0.01, 0.8, top))
    ax.add_collection(LineCollection(list(elbows), colors=color[p], linewidths=1.5))
    ax.add_collection(LineCollection(list(branches), colors=color[child], linewidths=2,
                                     linestyles=[RELATION_LINE.get(r, "solid") for r in d.relation[child].tolist()]))
    xy = at(x, y)
    plain = d.observed & ~d.triangle
    merge = d.relation == "merge"
    for mask, marker in ((plain & ~merge, "o"), (plain & merge, "s")):
        ax.scatter(xy[mask, 0], xy[mask, 1], c=list(color[mask]), marker=marker, s=22, zorder=3)
    hollow = ~d.observed & ~d.triangle
    ax.scatter(xy[hollow, 0], xy[hollow, 1], facecolors="none", edgecolors=list(color[hollow]), s=30, zorder=3)
    tri = np.flatnonzero(d.triangle)
    w = 0.1 + 0.06 * np.log10(d.members[tri])
    h = np.minimum(0.15 + 0.1 * np.log10(d.members[tri]), 0.45)
    corners = np.stack([at(x[tri], y[tri]), at(x[tri] + w, y[tri] - h), at(x[tri] + w, y[tri] + h)], 1)
    ax.add_collection(PolyCollection(list(corners), facecolors=list(color[tri]), edgecolors="#333333",
                                     linewidths=0.5))
    text = [lab + (f"  + merge of {m}" if m else "") for lab, m in zip(d.label.tolist(), d.merge_parents.tolist())]
    size = 7 if rows < 150 else 5
    inner = np.zeros(len(d), bool)
    inner[p] = True
    gap = np.where(d.triangle, 0.12 + 0.06 * np.log10(np.maximum(d.members, 1)), 0.05)
    if circular:                                                # along the radius, never upside down
        deg = np.degrees(2 * np.pi * y / rows) % 360
        flip = (deg > 90) & (deg < 270)
        where = at(x + gap, y)
        for (tx, ty), s, r, f in zip(where.tolist(), text, deg.tolist(), flip.tolist()):
            ax.text(tx, ty, s, fontsize=size, rotation=r - 180 if f else r, rotation_mode="anchor",
                    ha="right" if f else "left", va="center")
    else:                                                       # inner labels above their branch
        tx = np.where(inner, np.maximum(x - 0.95, 0), x + gap)
        ty, va = np.where(inner, y - 0.15, y), np.where(inner, "bottom", "center")
        for a, b, s, v in zip(tx.tolist(), ty.tolist(), text, va.tolist()):
            ax.text(a, b, s, fontsize=size, va=v)
    handles = [Patch(color=c, label=f"{v} ({d.counts[v]:,})") for v, c in d.colors.items()]
    handles += [Line2D([], [], color="black", linestyle=RELATION_LINE[r], label=r)
                for r in ("finetune", "adapter", "quantized")]
    handles.append(Line2D([], [], color="#333333", marker="s", linestyle="", label="merge (+ further parents)"))
    if hollow.any():
        handles.append(Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="#333333",
                              linestyle="", label="placeholder (absent parent)"))
    if len(tri):
        handles.append(Patch(facecolor=MIXED, edgecolor="#333333", label="collapsed clade [models]"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.82, top), fontsize=8,
               title=f"{d.color_by} (models)", frameon=False)
    fig.suptitle("\n".join([d.title, *(f"collapsed: {n}" for n in d.notes)]), fontsize=10, x=0.01, ha="left")
    ax.set_axis_off()
    if circular:
        reach = x.max() + 2.5
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
    else:
        ax.set_xlim(-0.1, x.max() + 2.5)
        ax.set_ylim(rows - 0.5, -0.8)
    with matplotlib.rc_context({"svg.fonttype": "none"}):          # SVG text stays text
        fig.savefig(out, dpi=100, bbox_inches="tight" if circular else None)
