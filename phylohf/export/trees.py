"""Export every family as files: one per family and format (or, as a *forest*, one per format
holding every family: :func:`forest_text`), plus ``index.tsv``.

File names are the root model id percent-encoded (every byte outside ``A-Z a-z 0-9 . _ -``
becomes ``%XX``; ``/`` is ``%2F``), which is reversible, so two families can never share a
name; a name is never hidden (a leading ``.`` is encoded too). On a case-insensitive
file system two ids that differ only in case would meet, so such ids also get a short
hash of the exact id.

``index.tsv`` lists the families (root id, file per format, size, observed, depth; for a
forest also ``tree``, the family's position in each file, from 1), one per line; fields never
hold a raw tab, line break or NUL (see :func:`tsv_field`), and :func:`read_index` reads it back.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..genealogy.branch_lengths import branch_lengths
from ..genealogy.families import Families
from ..genealogy.genome import Genome
from ..genealogy.lineage import Lineage
from ..sources.records import RELATIONS
from . import files
from .enewick import network_tokens, reticulations
from .newick import Forest
from .nexus import nexus_collection_text, nexus_documents

LIST_ATTRIBUTES = ("languages", "merge_parents")
MAX_NAME = 200          # characters of a file name before the hash (file systems allow 255 bytes)


def safe_name(model_id: str) -> str:
    """A file-system-safe, reversible name for a model id."""
    name = quote(model_id, safe="-_")
    return name.replace(".", "%2E", 1) if name.startswith(".") else name


def file_names(ids: list[str]) -> list[str]:
    """Safe names for ``ids``; a hash suffix where two differ only in case or a name is long."""
    names = [safe_name(i) for i in ids]
    folded: dict[str, int] = {}
    for n in names:
        folded[n.lower()] = folded.get(n.lower(), 0) + 1
    return [n[:MAX_NAME] + "." + hashlib.sha1(i.encode()).hexdigest()[:12]
            if folded[n.lower()] > 1 or len(n) > MAX_NAME else n for n, i in zip(names, ids)]


def _values(genome: Genome, group: str, nodes: np.ndarray, as_list: bool) -> np.ndarray:
    """The tokens of ``group`` each of ``nodes`` carries: its first, or with ``as_list`` all of
    them as a list; None where it declares none (or, without ``as_list``, carries none)."""
    sub = genome.group(group)[nodes].tocsr()
    tokens = genome.traits[genome.columns(group)][sub.indices]
    declared = genome.is_declared(group)[nodes]
    out = np.full(len(nodes), None, object)
    if as_list:
        tokens = tokens.tolist()
        bounds = zip(sub.indptr[:-1][declared].tolist(), sub.indptr[1:][declared].tolist())
        out[declared] = np.fromiter((tokens[a:b] for a, b in bounds), object, int(declared.sum()))
    else:
        first = declared & (np.diff(sub.indptr) > 0)
        out[first] = tokens[sub.indptr[:-1][first]]
    return out


def node_attributes(lineage: Lineage, genome: Genome, nodes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-node annotations written as NHX / NEXUS comments (None where unknown).

    ``license``, ``task``, ``library``: the model's value; ``languages``: its language
    codes; ``relation``: of the edge to its primary parent; ``observed``: 1 for models,
    0 for placeholders (absent parents); ``merge_parents``: ids of its further parents.
    """
    n = lineage.n
    out: dict[str, np.ndarray] = {}
    for name, group in (("license", "license"), ("languages", "language"), ("task", "task"),
                        ("library", "library")):
        out[name] = np.full(n, None, object)
        out[name][nodes] = _values(genome, group, nodes, name in LIST_ATTRIBUTES)
    out["relation"] = np.full(n, None, object)
    has = lineage.relation >= 0
    out["relation"][has] = np.asarray(RELATIONS, object)[lineage.relation[has]]
    out["observed"] = lineage.observed.astype(np.int64)
    merges = np.full(n, None, object)
    order = np.argsort(lineage.extra_child, kind="stable")
    children, starts = np.unique(lineage.extra_child[order], return_index=True)
    parents = lineage.ids[lineage.extra_parent[order]]
    merges[children] = [p.tolist() for p in np.split(parents, starts[1:])] if len(children) else []
    out["merge_parents"] = merges
    return out


SUFFIX = {"newick": ".nwk", "nhx": ".nhx", "nexus": ".nex", "enewick": ".enwk"}
FORMATS = tuple(SUFFIX)


def _tree_tokens(fmt: str, forest: Forest, bl) -> np.ndarray:
    """The tokens of a format written a tree per line: Newick, NHX or eNewick."""
    if fmt == "enewick":
        return network_tokens(forest, bl.extra)
    return forest.tokens(fmt, annotated=fmt == "nhx")


def family_texts(fmt: str, forest: Forest, genome: Genome, bl, color_by: str) -> Iterator[tuple[int, str]]:
    """``(root, text)`` of every family of ``forest`` in format ``fmt``."""
    if fmt == "nexus":
        return nexus_documents(forest, genome, color_by)
    return forest.texts(_tree_tokens(fmt, forest, bl))


def forest_text(fmt: str, forest: Forest, genome: Genome, bl, color_by: str) -> str:
    """Every family of ``forest`` in one text of format ``fmt``: a tree per line (Newick, NHX,
    eNewick), or one NEXUS document with one TREES block."""
    if fmt == "nexus":
        return nexus_collection_text(forest, genome, color_by)
    return forest.text(_tree_tokens(fmt, forest, bl))


FOREST = "forest"       # ``--forest``: every family in forest.nwk, forest.nhx, forest.nex, forest.enwk


@dataclass
class ExportReport:
    out: Path
    families: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)


def export_trees(lineage: Lineage, fams: Families, genome: Genome, out: str | Path,
                 formats=("newick", "nhx"), lengths: str = "unit", ancestors: str = "internal",
                 min_size: int = 2, family: str | None = None, color_by: str = "license",
                 progress: bool = False, forest: bool = False) -> ExportReport:
    """Write the chosen families in the chosen formats into ``out`` with ``index.tsv``: a file
    per family and format, or with ``forest`` one file per format holding every family."""
    unknown = [f for f in formats if f not in SUFFIX]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}: expected {', '.join(SUFFIX)}")
    if family is not None:
        keep = fams.root == lineage.family_root(family)
    else:
        keep = fams.size >= min_size
    roots = fams.root[keep]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bl = branch_lengths(lineage, lengths, genome)
    nodes = np.flatnonzero(np.isin(lineage.root, roots))
    laid = Forest(lineage, roots, bl.length, ancestors, node_attributes(lineage, genome, nodes))
    report = ExportReport(out, families=len(roots), notes=[f"branch lengths: {bl.describe()}"])
    if "enewick" in formats:
        c = reticulations(lineage, forest=laid).counts()
        report.notes.append(f"eNewick: {c['drawn']:,} further-parent edges of merges drawn as hybrids; "
                            f"left out: {c['other_family']:,} to other families (NHX/NEXUS merge_parents "
                            f"list them), {c['duplicate']:,} duplicates, {c['cycle']:,} closing a cycle")
    if forest:
        names = [FOREST] * len(roots)
        for fmt in formats:
            files.write_file(os.path.join(out, FOREST + SUFFIX[fmt]), forest_text(fmt, laid, genome, bl, color_by).encode())
        report.files = len(formats)
    else:
        names = file_names(lineage.ids[roots].tolist())
        report.files = _family_files(out, names, formats, laid, genome, bl, color_by, progress)
    head = ["root", *formats, *(["tree"] if forest else []), "size", "observed", "depth"]
    columns = [map(tsv_field, lineage.ids[roots].tolist()),        # file names never need escapes
               *([name + SUFFIX[fmt] for name in names] for fmt in formats),
               *([range(1, len(roots) + 1)] if forest else []),
               *(a[keep].tolist() for a in (fams.size, fams.observed, fams.depth))]
    with open(out / "index.tsv", "w", encoding="utf-8", newline="") as f:
        f.write("".join("\t".join(map(str, row)) + "\n" for row in [head, *zip(*columns)]))
    return report


AHEAD = 32 << 20        # bytes rendered ahead of the file writer at most


def _family_files(out: Path, names: list[str], formats, forest: Forest, genome, bl, color_by, progress) -> int:
    """One file per family and format, written by a process of its own (:mod:`.files`) while
    the texts are rendered here; a thread feeds it, so that rendering never waits for the pipe
    to drain."""
    from tqdm import tqdm
    count = 0
    writer = subprocess.Popen([sys.executable, "-I", files.__file__, str(out)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    feed = ThreadPoolExecutor(max_workers=1)
    pending: deque[tuple[int, Future]] = deque()
    ahead = 0
    try:
        for fmt in formats:
            suffix = SUFFIX[fmt]
            written = zip(names, family_texts(fmt, forest, genome, bl, color_by))
            with tqdm(total=len(names), disable=not progress, desc=f"write {fmt}", unit=" trees",
                      leave=False) as bar:
                while chunk := [files.record(name + suffix, (text + "\n").encode())
                                for name, (_, text) in islice(written, 2000)]:
                    data = b"".join(chunk)
                    pending.append((len(data), feed.submit(writer.stdin.write, data)))
                    ahead += len(data)
                    while ahead > AHEAD:
                        size, job = pending.popleft()
                        job.result()
                        ahead -= size
                    count += len(chunk)
                    bar.update(len(chunk))
        for _, job in pending:
            job.result()
    except BrokenPipeError:                         # the writer stopped: its report says why
        pass
    except BaseException:
        writer.kill()
        raise
    finally:
        feed.shutdown(cancel_futures=True)
        report = writer.communicate()[0]
    if writer.returncode:
        raise files.failure(report, writer.returncode)
    return count


# index.tsv: one line per family, fields separated by tabs; a backslash, tab, line feed,
# carriage return or NUL inside a field is written \\ \t \n \r \0 (no CSV quoting)
_ESCAPE = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
_UNESCAPE = {v[1]: k for k, v in _ESCAPE.items()}
_ESCAPES = str.maketrans(_ESCAPE)


_SPECIAL = re.compile(r"[\\\t\n\r\0]")


def tsv_field(value) -> str:
    """``value`` as one index.tsv field (see above)."""
    text = str(value)
    return text.translate(_ESCAPES) if _SPECIAL.search(text) else text


def read_index(path: str | Path) -> list[dict[str, str]]:
    """The rows of an index.tsv as dicts of unescaped strings."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    head, *rows = [[re.sub(r"\\(.)", lambda m: _UNESCAPE[m.group(1)], x) for x in line.split("\t")]
                   for line in lines if line]
    return [dict(zip(head, r)) for r in rows]
