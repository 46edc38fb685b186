"""NEXUS documents for FigTree and the NEXUS family of tools (dendropy, Bio.Phylo, PAUP, MrBayes).

One document per family: a TAXA block, a CHARACTERS block (the binary trait genomes),
a TREES block (the tree with BEAST/FigTree node annotations) and a FigTree block that
opens the tree coloured by an attribute, with model ids at tips and internal nodes.
:func:`nexus_collection` writes many families as one document instead (``trees --forest``).

Taxa and tree nodes
    The taxa are the *tips of the written tree*, in node (model id) order. NEXUS tools map taxa to
    tips only (internal labels are node labels, not taxa), so this is the one choice
    every reader accepts. With ``ancestors="internal"`` the models at internal nodes are
    therefore not taxa and have no matrix row (their values stay in the node comments);
    with ``ancestors="tips"`` every observed model is a taxon (its sampled-ancestor tip),
    which is the form to use for tip-data methods. Placeholders (absent parents) have
    children, so they are never taxa, except as one-node families (an absent parent
    named only by merges), which carry no traits.

Characters
    The traits carried by at least one model of the family, in genome column order, named
    ``group:token`` in ``CHARSTATELABELS``. A model's characters of a group it did not
    declare are ``?`` (missing is not absent). A family without any trait has no
    CHARACTERS block (``NCHAR=0`` is rejected by several readers).

Colour
    FigTree colours branches by ``color_by``; nodes without a value for it are written
    ``"?"`` (:data:`MISSING`) for that attribute, so they form their own legend entry
    (a family where no model declares it would otherwise fall back to another attribute).

Labels are quoted by NEXUS rules (see :func:`phylohf.export.newick.quote_label`), in the
blocks and in the tree alike.

Readers (tests/test_nexus.py)
    dendropy reads every label (but one of ``( ) , ; :`` alone) when the file is opened
    with ``newline=""``. FigTree's importer turns CR into LF and stops at NUL; it trims the
    labels of internal nodes and parses them as values, so an internal label with blanks
    at an end, or one that reads as a number, ``#colour``, ``{list}`` or ``"string"``,
    changes (tips keep theirs). Bio.Phylo's NEXUS reader keeps the quotes of tip labels
    and drops the label of every node with a ``[&...]`` comment: read the Newick files
    with it instead.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from ..genealogy.genome import Genome
from ..genealogy.lineage import Lineage
from .newick import Forest, _quote_all

MISSING = "?"


def _tips(lineage: Lineage, family: np.ndarray, ancestors: str) -> np.ndarray:
    """Nodes of ``family`` (sorted) written as tips: leaves, and with ``"tips"`` every model."""
    leaf = lineage.child_ptr[family + 1] == lineage.child_ptr[family]
    return family[leaf | lineage.observed[family]] if ancestors == "tips" else family[leaf]


def _taxa_block(labels: list[str]) -> str:
    return (f"BEGIN TAXA;\n\tDIMENSIONS NTAX={len(labels)};\n\tTAXLABELS\n"
            + "".join(f"\t\t{lab}\n" for lab in labels) + "\t;\nEND;\n")


def _characters_block(labels: list[str], char_labels: list[str], rows: list[str]) -> str:
    """The 0/1/? matrix block of taxa ``labels`` over traits ``char_labels`` ("" when none);
    ``rows``: each taxon's cells."""
    if not char_labels:
        return ""
    width = max(map(len, labels))
    return (f"BEGIN CHARACTERS;\n\tDIMENSIONS NCHAR={len(char_labels)};\n"
            '\tFORMAT DATATYPE=STANDARD SYMBOLS="01" MISSING=?;\n\tCHARSTATELABELS\n'
            + ",\n".join(f"\t\t{i} {n}" for i, n in enumerate(char_labels, 1))
            + "\n\t;\n\tMATRIX\n"
            + "".join(f"\t\t{lab:<{width}}  {row}\n" for lab, row in zip(labels, rows))
            + "\t;\nEND;\n")


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every range, one after another."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def _pairs(genome: Genome, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(node, column) of every trait carried by ``nodes``, in their order, and per-node bounds."""
    m = genome.matrix.tocsr()
    counts = np.diff(m.indptr)[nodes]
    bounds = np.r_[0, np.cumsum(counts)]
    idx = np.repeat(m.indptr[nodes] - bounds[:-1], counts) + np.arange(bounds[-1])
    return np.column_stack([np.repeat(nodes, counts), m.indices[idx]]), bounds


def figtree_block(color_by: str) -> str:
    """FigTree settings: branches coloured by ``color_by`` with a legend; ids on all nodes."""
    return ("begin figtree;\n"
            f'\tset appearance.branchColorAttribute="{color_by}";\n'
            "\tset legend.isShown=true;\n"
            f'\tset legend.attribute="{color_by}";\n'
            "\tset nodeLabels.isShown=true;\n"
            '\tset nodeLabels.displayAttribute="label";\n'
            "\tset tipLabels.isShown=true;\n"
            '\tset tipLabels.displayAttribute="Names";\n'
            "end;\n")


def nexus_forest(lineage: Lineage, genome: Genome, roots: Iterable[int] | None = None, lengths=None,
                 ancestors: str = "internal", attributes: Mapping[str, np.ndarray] | None = None,
                 color_by: str = "license") -> Iterator[tuple[int, str]]:
    """``(root, nexus)``: one complete NEXUS document per family root (default: all families).

    ``lengths``, ``ancestors`` and ``attributes`` are those of
    :func:`~phylohf.export.newick.write_forest`; ``color_by`` names the attribute FigTree
    colours the branches by. See the module docstring for what the blocks hold. Arguments
    are checked on the call; the documents are built as the iterator is consumed.
    """
    return nexus_documents(Forest(lineage, roots, lengths, ancestors, attributes), genome, color_by)


def nexus_documents(forest: Forest, genome: Genome, color_by: str = "license") -> Iterator[tuple[int, str]]:
    """The documents of :func:`nexus_forest` for the families of ``forest``."""
    trees = forest.texts(nexus_tokens(forest, genome, color_by))
    return _documents(forest, genome, trees, figtree_block(color_by)) if forest.lay is not None else iter(())


def nexus_collection(lineage: Lineage, genome: Genome, roots: Iterable[int] | None = None, lengths=None,
                     ancestors: str = "internal", attributes: Mapping[str, np.ndarray] | None = None,
                     color_by: str = "license") -> str:
    """One NEXUS document holding every family of ``roots`` (default: all), in that order: a
    TAXA block of the tips of every tree, one TREES block with a ``TREE`` per family (named by
    its root id, annotated as in :func:`nexus_forest`) and the FigTree block.

    There is no CHARACTERS block: the matrix of every tip over every trait of every family
    would be mostly ``?``; each node's values are in its annotations, and the documents of
    :func:`nexus_forest` carry the matrix of their family.
    """
    return nexus_collection_text(Forest(lineage, roots, lengths, ancestors, attributes), genome, color_by)


def nexus_collection_text(forest: Forest, genome: Genome, color_by: str = "license") -> str:
    """The document of :func:`nexus_collection` for the families of ``forest``."""
    tokens = nexus_tokens(forest, genome, color_by)
    if forest.lay is None:
        taxa, names = [], np.empty(0, object)
    else:
        labels = forest.labels("nexus")
        taxa = labels[np.searchsorted(forest.lay.nodes, _tips(forest.lineage, forest.lay.nodes, forest.ancestors))]
        names = labels[forest.top]
    block = forest.text(tokens, "\tTREE " + names + " = [&R] ")
    return "\n".join(["#NEXUS\n", _taxa_block(list(taxa)), f"BEGIN TREES;\n{block}END;\n",
                      figtree_block(color_by)])


def nexus_tokens(forest: Forest, genome: Genome, color_by: str) -> np.ndarray:
    """The arguments checked, then the tokens of ``forest`` in NEXUS dialect, ``color_by``
    never absent (:data:`MISSING`, a legend entry, not black)."""
    if color_by not in forest.attributes:
        raise ValueError(f"color_by={color_by!r} is not one of the attributes "
                         f"({', '.join(forest.attributes) or 'none'})")
    if genome.matrix.shape[0] != forest.lineage.n:
        raise ValueError(f"the genome has {genome.matrix.shape[0]} rows, the lineage {forest.lineage.n} nodes")
    return forest.tokens("nexus", fill={color_by: MISSING})


CELLS = 1 << 20          # matrix cells made at once (NEXUS documents are made in chunks of families)


def _documents(forest: Forest, genome: Genome, trees: Iterator[tuple[int, str]], figtree: str
               ) -> Iterator[tuple[int, str]]:
    """The documents of :func:`nexus_forest`, one per written tree; what each needs is sliced
    from arrays over the families of ``forest`` (taxa, their labels, the traits they carry),
    the matrix rows of a chunk of families at a time."""
    lineage, nodes, roots = forest.lineage, forest.lay.nodes, forest.roots
    order = nodes[np.argsort(lineage.root[nodes], kind="stable")]    # families, each in node order
    bounds = np.searchsorted(lineage.root[order], np.arange(lineage.n + 1))
    tip = np.zeros(lineage.n, bool)
    tip[_tips(lineage, order, forest.ancestors)] = True
    taxa_at = np.r_[0, np.cumsum(tip[order])]                        # taxa of a family: taxa[taxa_at[a]:...]
    taxa = order[tip[order]]
    quoted = forest.labels("nexus")
    labels = quoted[np.searchsorted(nodes, taxa)].tolist()
    pairs, _ = _pairs(genome, order)
    width = max(genome.matrix.shape[1], 1)
    used = np.sort(lineage.root[pairs[:, 0]] * width + pairs[:, 1])    # (family, trait) pairs, sorted
    used = used[np.r_[True, used[1:] != used[:-1]]] if len(used) else used   # (np.unique: hash collisions)
    used_at = np.searchsorted(used // width, np.arange(lineage.n + 1))
    char_labels = _quote_all(genome.names, "nexus")[used % width].tolist()
    first, n_taxa = taxa_at[bounds[roots]], taxa_at[bounds[roots + 1]] - taxa_at[bounds[roots]]
    n_cols = used_at[roots + 1] - used_at[roots]
    size = n_taxa * n_cols
    cells, big = np.cumsum(size), np.flatnonzero(size >= CELLS)      # a big family is a chunk of its own
    cuts = np.unique(np.r_[0, np.searchsorted(cells, np.arange(1, cells[-1] // CELLS + 1) * CELLS),
                           big, big + 1, len(roots)])
    trees, names = iter(trees), iter(quoted[forest.top].tolist())
    for f0, f1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        if size[f0] >= CELLS:
            r, a = roots[f0], first[f0]
            rows = _family_rows(genome, taxa[a:a + n_taxa[f0]], used[used_at[r]:used_at[r + 1]] % width)
        else:
            rows = _matrix_rows(genome, lineage, taxa, used, used_at, width, first[f0:f1], n_taxa[f0:f1],
                                n_cols[f0:f1], roots[f0:f1])
        row_at = np.r_[0, np.cumsum(n_taxa[f0:f1])].tolist()
        for k, (a, n, r) in enumerate(zip(first[f0:f1].tolist(), n_taxa[f0:f1].tolist(), roots[f0:f1].tolist())):
            root, tree = next(trees)
            fam_labels = labels[a:a + n]
            blocks = [_taxa_block(fam_labels),
                      _characters_block(fam_labels, char_labels[used_at[r]:used_at[r + 1]],
                                        rows[row_at[k]:row_at[k + 1]]),
                      f"BEGIN TREES;\n\tTREE {next(names)} = [&R] {tree}\nEND;\n",
                      figtree]
            yield root, "#NEXUS\n\n" + "\n".join(b for b in blocks if b)


def _matrix_rows(genome: Genome, lineage: Lineage, taxa: np.ndarray, used: np.ndarray, used_at: np.ndarray,
                 width: int, first: np.ndarray, n_taxa: np.ndarray, n_cols: np.ndarray, roots: np.ndarray
                 ) -> list[str]:
    """The cells of every taxon of the families ``roots``, one string per taxon in family order:
    ``1`` where it carries the trait, ``0`` where not, ``?`` where it declares nothing of its group.
    ``used``: the sorted (family root * ``width`` + column) keys of the traits of every family."""
    chunk = taxa[_ranges(first, n_taxa)]
    cols_of = np.repeat(n_cols, n_taxa)                              # cells of each taxon's row
    row_end = np.cumsum(cols_of)
    key = used[_ranges(np.repeat(used_at[roots], n_taxa), cols_of)]
    cells = np.full(len(key), ord("0"), np.uint8)
    pairs, at = _pairs(genome, chunk)
    row = np.repeat(np.arange(len(chunk)), np.diff(at))              # the taxon of each carried trait
    fam = lineage.root[pairs[:, 0]]
    cells[row_end[row] - cols_of[row] + np.searchsorted(used, fam * width + pairs[:, 1]) - used_at[fam]] = ord("1")
    taxon = np.repeat(chunk, cols_of)
    cells[~genome.declared[taxon, genome.trait_group[key % width]]] = ord(MISSING)
    text = cells.tobytes().decode("ascii")
    return [text[b - c:b] for b, c in zip(row_end.tolist(), cols_of.tolist())]


def _family_rows(genome: Genome, taxa: np.ndarray, cols: np.ndarray) -> list[str]:
    """The rows of :func:`_matrix_rows` for one family's ``taxa`` over its traits ``cols``
    (sorted), as a matrix: ``?`` set for each run of columns of one trait group."""
    cells = np.full((len(taxa), len(cols)), ord("0"), np.uint8)
    pairs, at = _pairs(genome, taxa)
    cells[np.repeat(np.arange(len(taxa)), np.diff(at)), np.searchsorted(cols, pairs[:, 1])] = ord("1")
    group = genome.trait_group[cols]
    runs = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    for c0, c1 in zip(runs[:-1].tolist(), runs[1:].tolist()):
        cells[~genome.declared[taxa, group[c0]], c0:c1] = ord(MISSING)
    text, n = cells.tobytes().decode("ascii"), len(cols)
    return [text[i:i + n] for i in range(0, len(text), n)]
