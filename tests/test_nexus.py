"""NEXUS export: exact text, dendropy / Bio.Nexus / Bio.Phylo / FigTree read-backs, hostile labels
through each reader's documented call, and a headless FigTree render."""
import os
import re
import shutil
import struct
import subprocess
import zlib

import dendropy
from pathlib import Path
import numpy as np
import pytest
import scipy.sparse as sp
from Bio import Phylo
from Bio.Nexus import Nexus

from hypothesis import HealthCheck, event, given, settings
from phylohf.export.newick import quote_label, write_newick
from phylohf.export.nexus import nexus_forest
from phylohf.export.trees import node_attributes
from phylohf.genealogy.genome import GROUPS, Genome
from phylohf.genealogy.lineage import NO_DATE, Lineage
import test_newick as newick_tests

TRAITS = [("license", "mit"), ("license", "apache-2.0"), ("language", "en"), ("language", "fr"),
          ("task", "text-generation")]


def genome(n: int, carried: dict[int, list[int]], declared: dict[str, list[int]]) -> Genome:
    """A genome over TRAITS: ``carried`` node -> columns, ``declared`` group -> nodes."""
    rows = [i for i, cols in carried.items() for _ in cols]
    cols = [c for cs in carried.values() for c in cs]
    m = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, len(TRAITS)))
    decl = np.zeros((n, len(GROUPS)), bool)
    for group, nodes in declared.items():
        decl[nodes, GROUPS.index(group)] = True
    return Genome(m, np.array([GROUPS.index(g) for g, _ in TRAITS]), np.array([t for _, t in TRAITS], object),
                  np.ones(len(TRAITS), np.int64), decl)


def family():
    """org/base-7b -> org/ft-a -> org/q-gguf, org/base-7b -> x's/ft_b; gone/parent (placeholder) -> u/child."""
    ids = ["org/base-7b", "org/ft-a", "x's/ft_b", "org/q-gguf", "gone/parent", "u/child"]
    lin = Lineage.from_edges(ids, np.array([1, 1, 1, 1, 0, 1], bool), np.full(6, NO_DATE),
                             [1, 2, 3, 5], [0, 0, 1, 4], [1, 1, 1, 1], [0, 0, 2, 0])
    g = genome(6, {0: [0, 2, 3, 4], 1: [1, 2], 2: [0], 3: [1, 4], 5: [1]},
               {"license": [0, 1, 2, 3, 5], "language": [0, 1], "task": [0, 3]})
    return lin, g


def documents(ancestors="internal", lengths=True):
    lin, g = family()
    bl = np.r_[np.nan, 1, 1, 1, np.nan, 1] if lengths else None
    return dict(nexus_forest(lin, g, None, bl, ancestors, node_attributes(lin, g, np.arange(lin.n))))


FIGTREE = """begin figtree;
\tset appearance.branchColorAttribute="license";
\tset legend.isShown=true;
\tset legend.attribute="license";
\tset nodeLabels.isShown=true;
\tset nodeLabels.displayAttribute="label";
\tset tipLabels.isShown=true;
\tset tipLabels.displayAttribute="Names";
end;
"""


def test_exact_tiny_family():
    lin = Lineage.from_edges(["org/base", "org/ft-1", "gpt2"], np.ones(3, bool), np.full(3, NO_DATE),
                             [1, 2], [0, 0], [1, 1], [0, 2])
    g = genome(3, {0: [0, 2], 1: [1], 2: [0]}, {"license": [0, 1, 2], "language": [0, 2]})
    [(root, text)] = nexus_forest(lin, g, attributes=node_attributes(lin, g, np.arange(3)))
    assert root == 0
    assert text == """#NEXUS

BEGIN TAXA;
\tDIMENSIONS NTAX=2;
\tTAXLABELS
\t\t'org/ft-1'
\t\tgpt2
\t;
END;

BEGIN CHARACTERS;
\tDIMENSIONS NCHAR=3;
\tFORMAT DATATYPE=STANDARD SYMBOLS="01" MISSING=?;
\tCHARSTATELABELS
\t\t1 'license:mit',
\t\t2 'license:apache-2.0',
\t\t3 'language:en'
\t;
\tMATRIX
\t\t'org/ft-1'  01?
\t\tgpt2        100
\t;
END;

BEGIN TREES;
\tTREE 'org/base' = [&R] ('org/ft-1'[&license="apache-2.0",relation="finetune",observed=1],\
gpt2[&license="mit",languages={},relation="quantized",observed=1])'org/base'[&license="mit",languages={"en"},observed=1];
END;

""" + FIGTREE


def test_nexus_labels_and_beast_comments():
    assert [quote_label(s, "nexus") for s in ("gpt2", "a.b", "a-b", "o/m", "x_y", "it's", "a=b")] == \
        ["gpt2", "a.b", "'a-b'", "'o/m'", "'x_y'", "'it''s'", "'a=b'"]
    lin = Lineage.from_edges(["a", "b"], np.ones(2, bool), np.full(2, NO_DATE), [1], [0], [1], [0])
    attrs = {"s": np.array(['q"x [y],{z}=1 %', None], object), "l": np.array([["a b", "c"], []], object),
             "n": np.array([1, 2.5]), "f": np.array([True, False])}
    assert write_newick(lin, 0, attributes=attrs, dialect="nexus") == (
        '(b[&l={},n=2.5,f=false])a[&s="q%22x%20%5By%5D%2C%7Bz%7D%3D1%20%25",l={"a%20b","c"},n=1,f=true];')
    with pytest.raises(ValueError, match="dialect"):
        write_newick(lin, 0, dialect="beast")


def test_bad_arguments():
    lin, g = family()
    attrs = node_attributes(lin, g, np.arange(lin.n))
    with pytest.raises(ValueError, match="color_by='size' is not one of the attributes"):
        nexus_forest(lin, g, attributes=attrs, color_by="size")
    with pytest.raises(ValueError, match="the genome has 2 rows"):
        nexus_forest(lin, genome(2, {}, {}), attributes=attrs)


def test_traitless_families_have_no_characters_block():
    # m/a merges m/c (primary) and gone/b (absent, named only by the merge: a one-node family)
    lin = Lineage.from_edges(["m/a", "gone/b", "m/c", "m/d"], np.array([1, 0, 1, 1], bool), np.full(4, NO_DATE),
                             [0, 0], [2, 1], [1, 2], [0, 3])
    g = genome(4, {0: [0], 2: [1]}, {"license": [0, 2]})
    docs = dict(nexus_forest(lin, g, attributes=node_attributes(lin, g, np.arange(4))))
    assert "NCHAR=2;" in docs[2] and 'merge_parents={"gone/b"}' in docs[2]
    for root, label in ((1, "'gone/b'"), (3, "'m/d'")):
        assert "BEGIN CHARACTERS" not in docs[root] and f"TAXLABELS\n\t\t{label}\n" in docs[root]


def read_dendropy(path):
    return dendropy.DataSet.get(path=str(path), schema="nexus", preserve_underscores=True, rooting="force-rooted")


@pytest.mark.parametrize("ancestors", ["internal", "tips"])
def test_dendropy_reads_taxa_matrix_and_tree(tmp_path, ancestors):
    docs = documents(ancestors)
    lin, g = family()
    expected_rows = {"internal": {"x's/ft_b": "10???", "org/q-gguf": "01??1"},
                     "tips": {"org/base-7b": "10111", "org/ft-a": "0110?", "x's/ft_b": "10???",
                              "org/q-gguf": "01??1"}}[ancestors]
    path = tmp_path / "f.nex"
    path.write_text(docs[0])
    ds = read_dendropy(path)
    [taxa] = ds.taxon_namespaces
    assert [t.label for t in taxa] == list(expected_rows)
    [matrix] = ds.char_matrices
    assert {t.label: str(matrix[t]) for t in matrix} == expected_rows
    [[tree]] = ds.tree_lists
    assert tree.label == "org/base-7b" and tree.is_rooted
    name = {nd: nd.taxon.label if nd.taxon else nd.label for nd in tree}
    edges = {(name[nd.parent_node], name[nd]) for nd in tree if nd.parent_node}
    primary = {(lin.ids[p], lin.ids[c]) for c, p in enumerate(lin.parent.tolist()) if p >= 0 and lin.root[c] == 0}
    sampled = {("org/base-7b", "org/base-7b"), ("org/ft-a", "org/ft-a")} if ancestors == "tips" else set()
    assert edges == primary | sampled
    assert all(nd.taxon is not None for nd in tree.leaf_node_iter())
    license = {name[nd]: nd.annotations.get_value("license") for nd in tree}
    assert license == {"org/base-7b": "mit", "org/ft-a": "apache-2.0", "x's/ft_b": "mit", "org/q-gguf": "apache-2.0"}
    path.write_text(docs[4])
    ds = read_dendropy(path)
    assert [t.label for t in ds.taxon_namespaces[0]] == ["u/child"]
    assert ds.tree_lists[0][0].seed_node.annotations.get_value("observed") == "0"


def test_bio_nexus_reads_character_labels_and_matrix(tmp_path):
    path = tmp_path / "f.nex"
    path.write_text(documents("tips")[0])
    nex = Nexus.Nexus(str(path))
    assert nex.taxlabels == ["org/base-7b", "org/ft-a", "x's/ft_b", "org/q-gguf"]
    assert list(nex.charlabels.values()) == [f"{g}:{t}" for g, t in TRAITS]
    assert {k: str(v) for k, v in nex.matrix.items()}["org/ft-a"] == "0110?"


def shape(clade, strip):
    """A clade as nested sorted tuples of tip names (internal names ignored)."""
    if not clade.clades:
        return strip(clade.name)
    return tuple(sorted((shape(c, strip) for c in clade.clades), key=str))


@pytest.mark.parametrize("ancestors", ["internal", "tips"])
def test_bio_phylo_reads_the_same_topology(tmp_path, ancestors):
    path = tmp_path / "f.nex"
    path.write_text(documents(ancestors)[0])
    tree = Phylo.read(str(path), "nexus")
    strip = lambda s: s[1:-1].replace("''", "'") if s.startswith("'") else s  # noqa: E731  Bio keeps quotes
    ds = read_dendropy(path)

    class Clade:                                  # the dendropy tree in Bio.Phylo's shape
        def __init__(self, nd):
            self.name, self.clades = (nd.taxon.label if nd.taxon else None), [Clade(c) for c in nd.child_nodes()]

    assert tree.rooted
    assert shape(tree.root, strip) == shape(Clade(ds.tree_lists[0][0].seed_node), lambda s: s)
    expected = {"internal": (("org/q-gguf",), "x's/ft_b"),
                "tips": ("org/base-7b", ("org/ft-a", "org/q-gguf"), "x's/ft_b")}[ancestors]
    assert shape(tree.root, strip) == tuple(sorted(expected, key=str))


# -- FigTree -----------------------------------------------------------------------------------
def png_pixels(path) -> np.ndarray:
    """RGBA pixels of an 8-bit RGBA PNG (the kind FigTree writes), all five row filters."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = {}, 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks[kind] = chunks.get(kind, b"") + data[pos + 8:pos + 8 + n]
        pos += 12 + n
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 6)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 4 * w)
    out = np.zeros((h + 1, 4 * w + 4), np.int64)          # a zero row above and zero pixel left
    for y, (f, row) in enumerate(zip(raw[:, 0].tolist(), raw[:, 1:].astype(np.int64))):
        up, cur = out[y, 4:], out[y + 1]
        if f in (0, 2):
            cur[4:] = (row + (up if f == 2 else 0)) % 256
        elif f == 1:
            cur[4:] = row.reshape(w, 4).cumsum(axis=0).reshape(-1) % 256
        else:
            for x in range(4, 4 * w + 4):
                a, b, c = cur[x - 4], out[y, x], out[y, x - 4]
                if f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pred = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
                cur[x] = (row[x - 4] + pred) % 256
    return out[1:, 4:].reshape(h, w, 4).astype(np.uint8)


def figtree_png(tmp_path, text, name):
    if not (shutil.which("figtree") and shutil.which("xvfb-run")):
        pytest.skip("FigTree render test needs `figtree` and `xvfb-run` (Debian: apt-get install figtree xvfb)")
    nex, png = tmp_path / f"{name}.nex", tmp_path / f"{name}.png"
    nex.write_text(text)
    subprocess.run(["xvfb-run", "-a", "figtree", "-graphic", "PNG", "-width", "800", "-height", "600",
                    str(nex), str(png)], check=True, timeout=120, capture_output=True)
    assert png.exists()
    return png_pixels(png)


def branch_colours(px: np.ndarray) -> int:
    """Saturated opaque colours covering at least 100 pixels (branches and legend keys)."""
    rgb = px[px[..., 3] == 255][:, :3].astype(int)
    rgb = rgb[rgb.max(axis=1) - rgb.min(axis=1) > 60]
    _, counts = np.unique(rgb, axis=0, return_counts=True)
    return int((counts >= 100).sum())


def test_figtree_renders_coloured_labelled_png(tmp_path):
    px = figtree_png(tmp_path, documents()[0], "two_licenses")
    assert px.shape == (600, 800, 4)
    assert (px[..., 3] > 0).mean() > 0.005                # not blank: background is transparent
    assert branch_colours(px) == 2                        # mit and apache-2.0
    one = figtree_png(tmp_path, documents()[4], "one_license")   # u/child's apache-2.0 only,
    assert branch_colours(one) == 2          # and "?" (its placeholder parent) in the legend


def test_nodes_without_the_colour_attribute_are_marked_missing():
    text = documents()[4]
    assert "('u/child':1[&license=\"apache-2.0\"," in text and "'gone/parent'[&license=\"?\",observed=0]" in text


# -- hostile labels through each reader ----------------------------------------------------------
def hostile_document(lin: Lineage) -> str:
    """The NEXUS document of the family of node 0, every node carrying a license."""
    g = genome(lin.n, {v: [v % 2] for v in range(lin.n)}, {"license": list(range(lin.n))})
    return dict(nexus_forest(lin, g, [0], None, "internal", node_attributes(lin, g, np.arange(lin.n))))[0]


def dendropy_names(path) -> tuple[set, dict]:
    """The README's dendropy call: (node names, matrix row of each taxon)."""
    ds = dendropy.DataSet.get(file=open(path, encoding="utf-8", newline=""), schema="nexus",
                              preserve_underscores=True, rooting="force-rooted")
    [[tree]] = ds.tree_lists
    names = {(nd.taxon.label if nd.taxon else nd.label) for nd in tree}
    return names, {t.label: str(row) for t, row in ds.char_matrices[0].items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=newick_tests.forests(max_n=12))
def test_dendropy_reads_every_label(tmp_path, data):
    lin, _ = data
    family = np.flatnonzero(lin.root == 0)
    names = set(lin.ids[family].tolist())
    path = tmp_path / "f.nex"
    path.write_text(hostile_document(lin), encoding="utf-8", newline="")
    if any(map(newick_tests.LIMITS["dendropy"], names)):       # '(' ',' ':' ... alone: punctuation
        event("dendropy: a label it may misread")
        return
    got, rows = dendropy_names(path)
    assert got == names
    cols = sorted({v % 2 for v in family.tolist()})                # the family's traits
    assert rows == {lin.ids[v]: "".join("01"[v % 2 == c] for c in cols)
                    for v in family.tolist() if not len(lin.children(v))}


def figtree_jar() -> Path | None:
    """$FIGTREE_JAR, else the jar the `figtree` launcher runs (Debian's is a shell script)."""
    if os.environ.get("FIGTREE_JAR"):
        return Path(os.environ["FIGTREE_JAR"])
    launcher = shutil.which("figtree")
    found = launcher and re.search(r"-jar\s+(\S+\.jar)", Path(launcher).read_text(errors="replace"))
    return Path(found.group(1)) if found else None


FIGTREE_JAR = figtree_jar()
# label -> FigTree (jebl) reads it as written (as an internal node, as a tip); the README's list
FIGTREE_LABELS = [("org/m-1.5_x", True, True), ("it's", True, True), ('say "hi"', True, True),
                  ("a{b}=c;d", True, True), ("(x),[y]:z", True, True), ("back\\slash", True, True),
                  ("é中🙂", True, True), ("a b\tc", True, True), ("two\nlines", True, True),
                  ("a\rb", False, False), ("a\r\nb", False, False),                    # CR becomes LF
                  ("a\0b", False, False),                                            # NUL ends the file
                  (" lead", False, True), ("trail\t", False, True),      # internal labels are trimmed ...
                  ("#ff0000", False, True), ("{a}", False, True), ('"q"', False, True),  # ... and parsed
                  ("1.50", False, True)]                                # as values: colour, list, string, number


@pytest.mark.skipif(not (shutil.which("java") and FIGTREE_JAR and FIGTREE_JAR.exists()),
                    reason="needs java and FigTree's jar (Debian: apt-get install figtree; or set FIGTREE_JAR)")
def test_figtree_reads_labels(tmp_path):
    """FigTree's own NEXUS importer (through tests/data/FigTreeRead.java) on each label, as
    an internal node and as a tip: exact, or for the documented cases, not."""
    files = []
    for i, (label, _, _) in enumerate(FIGTREE_LABELS):
        for j, parent in enumerate(([-1, 0, 1, 0], [-1, 0, 0, 2])):       # label internal, then a tip
            ids = ["r/oot", label, "m/x", "t/ip"] if j == 0 else ["r/oot", "m/x", "t/ip", label]
            lin = Lineage.from_edges(ids, np.ones(4, bool), np.full(4, NO_DATE), [1, 2, 3], parent[1:],
                                     [1] * 3, [0] * 3)
            files.append(tmp_path / f"{i}-{j}.nex")
            files[-1].write_text(hostile_document(lin), encoding="utf-8", newline="")
    out = subprocess.run(["java", "-cp", str(FIGTREE_JAR), str(Path(__file__).parent / "data" / "FigTreeRead.java"),
                          *map(str, files)], capture_output=True, text=True, timeout=300, check=True).stdout
    unescape = lambda s: re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), s)  # noqa: E731
    read = {}
    for block in out.split("\n#"):
        head, *rows = block.lstrip("#").strip("\n").split("\n")
        read[Path(unescape(head)).name] = rows
    for i, (label, *exact) in enumerate(FIGTREE_LABELS):
        for j in (0, 1):
            rows = read[f"{i}-{j}.nex"]
            got = None if rows[0].startswith("!") else {unescape(r.split("\t")[2]) for r in rows}
            assert (got == {"r/oot", "m/x", "t/ip", label}) == exact[j], (label, ("internal", "tip")[j], got)
            if exact[j]:
                assert {unescape(r.split("\t")[3]) for r in rows} == {"mit", "apache-2.0"}


def test_bio_phylo_nexus_limits(tmp_path):
    """Bio.Phylo's NEXUS reader (Bio.Nexus) keeps the quotes of quoted tip labels and drops the
    label of every node with a [&...] comment (all of ours): the README sends it to the Newick
    files, where every label it reads comes back (tests/test_newick.py)."""
    path = tmp_path / "f.nex"
    path.write_text(documents()[0])
    tree = Phylo.read(str(path), "nexus")
    tips = sorted(c.name for c in tree.get_terminals())
    assert tips == ["'org/q-gguf'", "'x''s/ft_b'"]
    assert [c.name for c in tree.get_nonterminals()] == [None, None]
