"""``trees --forest``: one file per format holding every family, read back by the tools that
read many trees (ete3 line by line, dendropy ``TreeList``, Bio.Phylo ``parse``, FigTree's
importer), and the same trees as the per-family files."""
import shutil
import subprocess
from pathlib import Path

import dendropy
import numpy as np
import pytest
from Bio import Phylo
from ete3 import Tree

from phylohf.cli import main
from phylohf.export.enewick import read_enewick
from phylohf.export import nexus
from phylohf.export.newick import read_newick_trees
from phylohf.export.nexus import nexus_forest
from phylohf.export.trees import FORMATS, export_trees, node_attributes, read_index
from phylohf.genealogy.families import families
from phylohf.genealogy.lineage import NO_DATE, Lineage
from test_nexus import FIGTREE_JAR, TRAITS, genome
from test_trees import store  # noqa: F401  (fixture)

SUFFIX = {"newick": ".nwk", "nhx": ".nhx", "nexus": ".nex", "enewick": ".enwk"}


def forest(seed: int = 4, n: int = 120):
    """A random forest of ``n`` models in a dozen families of various sizes, a merge across
    two branches, ids that need quoting, every model with a license (one of two)."""
    rng = np.random.default_rng(seed)
    parent = np.where(rng.random(n) < 0.1, -1, (rng.random(n) * np.arange(n)).astype(np.int64))
    parent[0] = -1
    ids = [f"org{i % 7}/m_{i}" if i % 5 == 0 else f"org{i % 7}/m-{i}" for i in range(n)]
    child = np.flatnonzero(parent >= 0)
    merge_child = int(child[-1])
    edges_c, edges_p = [*child.tolist(), merge_child], [*parent[child].tolist(), int(child[-2])]
    pos = [1] * len(child) + [2]
    lin = Lineage.from_edges(np.array(ids, object), np.ones(n, bool), np.full(n, NO_DATE), edges_c, edges_p,
                             pos, [0] * len(child) + [3])
    g = genome(n, {v: [v % 2] for v in range(n)}, {"license": list(range(n))})
    return lin, g


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    lin, g = forest()
    fams = families(lin)
    out = tmp_path_factory.mktemp("forest")
    each = tmp_path_factory.mktemp("each")
    report = export_trees(lin, fams, g, out, formats=FORMATS, forest=True)
    export_trees(lin, fams, g, each, formats=FORMATS)
    return lin, fams, out, each, report


def read(path: Path) -> str:
    return open(path, encoding="utf-8", newline="").read()


def family_ids(lin: Lineage, root_id: str) -> set[str]:
    root = int(np.flatnonzero(lin.ids == root_id)[0])
    return set(lin.ids[lin.root == root].tolist())


def test_one_file_per_format_and_an_index_of_positions(written):
    lin, fams, out, each, report = written
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.tsv", *(f"forest{s}" for s in SUFFIX.values())])
    assert report.files == 4 and report.families == int((fams.size >= 2).sum()) > 5
    rows = read_index(out / "index.tsv")
    assert [r["root"] for r in rows] == lin.ids[fams.root[fams.size >= 2]].tolist()    # largest first
    assert [r["tree"] for r in rows] == [str(k) for k in range(1, len(rows) + 1)]
    assert all(r[f] == "forest" + SUFFIX[f] for r in rows for f in FORMATS)
    per_family = read_index(each / "index.tsv")
    assert [{k: v for k, v in r.items() if k not in (*FORMATS, "tree")} for r in rows] == \
        [{k: v for k, v in r.items() if k not in FORMATS} for r in per_family]


@pytest.mark.parametrize("fmt", ["newick", "nhx", "enewick"])
def test_a_line_per_family_equal_to_its_own_file(written, fmt):
    lin, fams, out, each, _ = written
    lines = read(out / f"forest{SUFFIX[fmt]}").split("\n")
    assert lines[-1] == "" and len(lines) == len(read_index(out / "index.tsv")) + 1
    assert lines[:-1] == [read(each / r[fmt]).removesuffix("\n") for r in read_index(each / "index.tsv")]


def test_the_nexus_holds_every_tree_of_the_family_files_in_one_trees_block(written):
    lin, fams, out, each, _ = written
    text = read(out / "forest.nex")
    assert text.startswith("#NEXUS\n") and text.count("BEGIN TREES;") == 1 and "BEGIN CHARACTERS" not in text
    trees = [line for line in text.split("\n") if line.startswith("\tTREE ")]
    singles = [next(line for line in read(each / r["nexus"]).split("\n") if line.startswith("\tTREE "))
               for r in read_index(each / "index.tsv")]
    assert trees == singles
    assert 'set appearance.branchColorAttribute="license";' in text


def test_ete3_reads_each_line(written):
    lin, _, out, _, _ = written
    rows = read_index(out / "index.tsv")
    for row, line in zip(rows, read(out / "forest.nhx").split("\n")):
        t = Tree(line, format=1, quoted_node_names=True)
        assert {n.name for n in t.traverse()} == family_ids(lin, row["root"]) and t.name == row["root"]
        assert all(n.license == TRAITS[int(n.name.split("_")[-1].split("-")[-1]) % 2][1] for n in t.traverse())


def test_dendropy_treelist_reads_newick_and_nexus(written):
    lin, _, out, _, _ = written
    rows = read_index(out / "index.tsv")
    newick = dendropy.TreeList.get(path=str(out / "forest.nwk"), schema="newick", rooting="force-rooted",
                                   preserve_underscores=True)
    nexus = dendropy.TreeList.get(path=str(out / "forest.nex"), schema="nexus", rooting="force-rooted",
                                  preserve_underscores=True)
    assert len(newick) == len(nexus) == len(rows)
    for row, a, b in zip(rows, newick, nexus):
        want = family_ids(lin, row["root"])
        for tree in (a, b):
            assert {nd.taxon.label if nd.taxon else nd.label for nd in tree} == want
        assert b.label == row["root"]
        assert {nd.annotations.get_value("license") for nd in b} <= {"mit", "apache-2.0"}


def test_bio_phylo_parses_every_tree(written):
    lin, _, out, _, _ = written
    rows = read_index(out / "index.tsv")
    newick = list(Phylo.parse(str(out / "forest.nwk"), "newick", comments_are_confidence=True))
    assert [{c.name for c in t.find_clades()} for t in newick] == [family_ids(lin, r["root"]) for r in rows]
    nexus = list(Phylo.parse(str(out / "forest.nex"), "nexus"))      # keeps tip quotes, drops internal ids
    assert [t.count_terminals() for t in nexus] == [t.count_terminals() for t in newick]


def test_phylohf_reads_them_back(written):
    lin, _, out, _, _ = written
    rows = read_index(out / "index.tsv")
    trees = read_newick_trees(read(out / "forest.nhx"))
    assert [set(t.names) for t in trees] == [family_ids(lin, r["root"]) for r in rows]
    hybrids = [read_enewick(line) for line in read(out / "forest.enwk").split("\n")[:-1]]
    assert sum(len(net.hybrid_child) for net in hybrids) <= 1


@pytest.mark.skipif(not (shutil.which("java") and FIGTREE_JAR and FIGTREE_JAR.exists()),
                    reason="needs java and FigTree's jar (Debian: apt-get install figtree; or set FIGTREE_JAR)")
def test_figtree_imports_every_tree(written):
    lin, _, out, _, _ = written
    rows = read_index(out / "index.tsv")
    got = subprocess.run(["java", "-cp", str(FIGTREE_JAR), str(Path(__file__).parent / "data" / "FigTreeRead.java"),
                          str(out / "forest.nex")], capture_output=True, text=True, timeout=300, check=True).stdout
    blocks = [b.strip("\n").split("\n")[1:] for b in ("\n" + got).split("\n#")[1:]]
    assert len(blocks) == len(rows)
    for row, block in zip(rows, blocks):
        assert not block[0].startswith("!")
        assert {r.split("\t")[2] for r in block} == family_ids(lin, row["root"])
        assert {r.split("\t")[3] for r in block} <= {"mit", "apache-2.0"}


def test_the_command_line(store, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "f"
    assert main(["-q", "trees", "--store", store, "--out", str(out), "--forest", "--format", "newick,nexus"]) == 0
    assert "wrote 2 files for 2 families" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["forest.nex", "forest.nwk", "index.tsv"]
    assert [(r["root"], r["newick"], r["tree"]) for r in read_index(out / "index.tsv")] == [
        ("meta/base", "forest.nwk", "1"), ("gone/deleted", "forest.nwk", "2")]


@pytest.mark.parametrize("ancestors", ["internal", "tips"])
def test_nexus_matrices_do_not_depend_on_how_families_are_chunked(monkeypatch, ancestors):
    # families' matrix rows are made in chunks of CELLS cells, a family of CELLS or more as one matrix
    lin, _ = forest()
    n = lin.n
    g = genome(n, {v: [v % 2, *([2 + v % 2] if v % 3 == 0 else []), *([4] if v % 4 == 0 else [])] for v in range(n)},
               {"license": list(range(n)), "language": [v for v in range(n) if v % 3 == 0 or v % 5 == 0],
                "task": [v for v in range(n) if v % 4 == 0 or v % 6 == 1]})
    attrs = node_attributes(lin, g, np.arange(n))
    made = {}
    for cells in (nexus.CELLS, 7, 1):
        monkeypatch.setattr(nexus, "CELLS", cells)
        made[cells] = dict(nexus_forest(lin, g, None, None, ancestors, attrs))
    assert made[1] == made[7] == made[max(made)]
    matrices = [d.split("MATRIX\n")[1].split("\t;")[0] for d in made[1].values() if "MATRIX" in d]
    assert len(matrices) > 3 and set("".join(matrices)) >= set("01?")
