"""Characters for the phylogenetic methods, read off the genomes.

A *categorical* trait is one single-valued genome group (license, task, library,
architecture, size, quantization): its ``top`` most frequent values are states, the rest ``(rare)``; a model
that did not declare the group is unknown (-1), never a state. A *binary* trait is one
genome column (``language:en``, ``tag:lora``): 1 present, 0 absent, unknown where the
group was not declared. ``license-class:NAME`` is the binary character "license is in
class NAME" (permissive, copyleft, ...).

Missing is not at random: a model that declares no license chose not to, unlike a
placeholder (a parent absent from the data). ``missing="state"`` (:func:`with_missing`)
makes undeclared a state of its own, ``(undeclared)``, last, for observed models only;
placeholders stay unknown.
"""
from __future__ import annotations

import csv

import numpy as np

from .genome import GROUPS, Genome
from .licensing import CLASSES, class_states

RARE = "(rare)"            # the lumped rare values; parenthesised so no Hub id can clash
UNDECLARED = "(undeclared)"  # the state of observed models that declare nothing, with missing="state"
MISSING = ("unknown", "state")
SET_TRAITS = ("language", "tag", "dataset")   # set-valued groups: gains and losses per element


def with_missing(states: np.ndarray, names: list[str], missing: str = "unknown",
                 observed: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """``missing="unknown"``: the states as they are; ``"state"``: observed nodes without a
    state (``observed``: the lineage's flags) get the last state, ``(undeclared)``."""
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, not {missing!r}")
    if missing == "unknown":
        return states, names
    if observed is None:
        raise ValueError('missing="state" needs the observed flags, to tell undeclared from placeholders')
    return np.where((states < 0) & observed, len(names), states), [*names, UNDECLARED]


def missing_convention(names: list[str]) -> str:
    """How undeclared values enter, for a report's conventions (states ``names``)."""
    if names and names[-1] == UNDECLARED:
        return (f"undeclared is a state of its own, '{UNDECLARED}' (a model that declares nothing chose "
                "not to: not missing at random); placeholders are unknown")
    return "undeclared is unknown (not a state), as are placeholders"


def categorical(genome: Genome, group: str, top: int = 10, missing: str = "unknown",
                observed: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """(state per node, -1 unknown; state names) of a single-valued group; ``missing``,
    ``observed``: as :func:`with_missing`."""
    if group not in GROUPS:
        raise ValueError(f"unknown trait group {group!r}: expected one of {', '.join(GROUPS)}")
    cols = genome.columns(group)                       # most frequent first
    sub = genome.matrix[:, cols].tocsr()
    first = np.full(sub.shape[0], -1)
    has = np.diff(sub.indptr) > 0
    first[has] = sub.indices[sub.indptr[:-1][has]]     # a model's (first) value
    keep = min(top, len(cols))
    names = genome.traits[cols[:keep]].tolist() + ([RARE] if len(cols) > keep else [])
    states = np.where(first >= keep, keep, first)
    states[~genome.is_declared(group)] = -1
    return with_missing(states.astype(np.int64), names, missing, observed)


def binary(genome: Genome, trait: str) -> tuple[np.ndarray, list[str]]:
    """(0/1 per node, -1 unknown; ["absent", "present"]) of one genome column ``group:token``."""
    names = genome.names
    if trait not in names:
        raise ValueError(f"no trait {trait!r} in the genomes (e.g. {', '.join(names[:3])})")
    column = genome.matrix[:, names.index(trait)].toarray().ravel().astype(np.int64)
    column[~genome.is_declared(trait.split(":", 1)[0])] = -1
    return column, ["absent", "present"]


def license_ids(genome: Genome) -> tuple[np.ndarray, list[str]]:
    """Every declared license id as a state (most frequent first), -1 undeclared, the ids of no
    class (``other``, ``other:<unknown name>``, ``unknown``) one state ``other``: a family's own
    unclassified license name is reachable only within that family, which rates pooled over
    families (the null's) cannot reproduce, and no claim tells those ids apart."""
    states, names = categorical(genome, "license", top=len(genome.columns("license")))
    other = class_states(np.arange(len(names)), names) == CLASSES.index("other")
    if other.sum() < 2:
        return states, names
    merged = np.where(other, np.flatnonzero(other)[0], np.arange(len(names)))[np.maximum(states, 0)]
    freq = np.bincount(merged[states >= 0], minlength=len(names))
    keep = np.argsort(-freq, kind="stable")[:np.count_nonzero(freq)]
    rank = np.full(len(names), -1)
    rank[keep] = np.arange(len(keep))
    return np.where(states >= 0, rank[merged], -1), ["other" if other[i] else names[i] for i in keep]


def lumped_license_ids(genome: Genome, top: int) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """(:func:`license_ids` states, their names, the map of each to a table of ``top`` ids and
    ``(rare)``, that table's names): the license character the claims simulate (every id) and
    test (the lumped table)."""
    ids, names = license_ids(genome)
    k = min(len(names), top + 1)
    lut = np.minimum(np.arange(len(names)), k - 1)
    return ids, names, lut, (names[:k - 1] + [RARE] if len(names) > top else names)


# single-valued groups; a GGUF repository with several quantizations takes its type most
# frequent on the Hub
SINGLE = ("license", "task", "library", "architecture", "size", "quantization")


def license_class(genome: Genome, name: str) -> tuple[np.ndarray, list[str]]:
    """The binary character "license is in class ``name``" (classes of :mod:`phylohf.genealogy.licensing`;
    unknown where no license is declared)."""
    if name not in CLASSES:
        raise ValueError(f"unknown license class {name!r}: expected one of {', '.join(CLASSES)}")
    states, names = categorical(genome, "license", top=genome.matrix.shape[1])
    cls = class_states(states, names)
    return np.where(cls >= 0, (cls == CLASSES.index(name)).astype(np.int64), -1), [f"not {name}", name]


def character(genome: Genome, trait: str, top: int = 10, missing: str = "unknown",
              observed: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """``license-class:NAME`` as a :func:`license_class` trait, ``group:token`` as a
    :func:`binary` one, a single-valued group as a :func:`categorical` one; ``missing``,
    ``observed``: as :func:`with_missing`."""
    if trait.startswith("license-class:"):
        found = license_class(genome, trait.split(":", 1)[1])
    elif ":" in trait:
        found = binary(genome, trait)
    elif trait not in SINGLE:
        raise ValueError(f"{trait!r} is not a single-valued trait group ({', '.join(SINGLE)}); "
                         "for one element of a set-valued group write group:element, e.g. language:en")
    else:
        return categorical(genome, trait, top, missing, observed)
    return with_missing(*found, missing, observed)


def table_rows(path, columns: list[str]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a tab-separated table whose header names at least ``columns``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or len(rows[0]) < len(columns):
        raise ValueError(f"{path}: expected a tab-separated header row: {'<TAB>'.join(columns)}")
    return rows[0], rows[1:]


def from_table(path, names: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """States of the nodes ``names`` from a tab-separated table with a header row: node name,
    then state (PastML's layout; further columns ignored). Nodes absent from it, or with an
    empty / NA state, are unknown. States are sorted by frequency."""
    values: dict[str, str] = {}
    for row in table_rows(path, ["node", "state"])[1]:
        if len(row) >= 2 and row[1].strip() and row[1].strip().upper() not in ("NA", "NAN", "?"):
            values[row[0]] = row[1].strip()
    found = [values.get(n) for n in names.tolist()]
    if not any(v is not None for v in found):
        raise ValueError(f"{path}: none of its node names are in the tree")
    counts: dict[str, int] = {}
    for v in found:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    states = sorted(counts, key=lambda s: (-counts[s], s))
    code = {s: i for i, s in enumerate(states)}
    return np.array([code[v] if v is not None else -1 for v in found], np.int64), states
