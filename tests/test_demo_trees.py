"""The demo's trees open in ete3, dendropy and Bio.Phylo with every model id intact."""
import csv
import io
import warnings

import dendropy
import pytest
from Bio import Phylo
from ete3 import Tree

from phylohf.cli import main
from phylohf.export.enewick import read_enewick
from phylohf.export.newick import read_newick
from phylohf.genealogy.lineage import Lineage
from phylohf.store.database import Store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    assert main(["-q", "demo", "--models", "3000", "--seed", "5", "--workdir", str(d / "work"),
                 "--trees", str(d / "trees")]) == 0
    with Store(d / "work" / "demo.duckdb", read_only=True) as store:
        lineage = Lineage.from_store(store)
    with open(d / "trees" / "index.tsv", newline="") as f:
        index = list(csv.DictReader(f, delimiter="\t"))
    members = {}
    for v, r in enumerate(lineage.root.tolist()):
        members.setdefault(str(lineage.ids[r]), set()).add(str(lineage.ids[v]))
    return d / "trees", index, members


def test_every_family_file_holds_exactly_its_members(demo):
    trees, index, members = demo
    assert len(index) == sum(len(m) >= 2 for m in members.values()) > 50
    for row in index:
        want = members[row["root"]]
        assert len(want) == int(row["size"])
        assert set(read_newick((trees / row["newick"]).read_text()).names) == want
        assert set(read_enewick((trees / row["enewick"]).read_text()).names) == want


def test_the_peer_libraries_read_every_model_id(demo):
    trees, index, members = demo
    for row in index:
        want = members[row["root"]]
        text = (trees / row["newick"]).read_text()
        ete = Tree(text, format=1, quoted_node_names=True)
        assert {n.name for n in ete.traverse()} == want
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dendro = dendropy.Tree.get(data=text, schema="newick", rooting="force-rooted",
                                       preserve_underscores=True, case_sensitive_taxon_labels=True,
                                       suppress_internal_node_taxa=False, suppress_leaf_node_taxa=False)
        assert {n.taxon.label for n in dendro.preorder_node_iter()} == want
        bio = Phylo.read(io.StringIO(text), "newick")
        assert {c.name for c in bio.find_clades()} == want


def test_nhx_and_nexus_open_in_ete3_and_dendropy(demo):
    trees, index, members = demo
    for row in index[:40]:
        want = members[row["root"]]
        nhx = Tree((trees / row["nhx"]).read_text(), format=1, quoted_node_names=True)
        assert {n.name for n in nhx.traverse()} == want
        assert all(n.observed in ("0", "1") for n in nhx.traverse())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dendropy.DataSet.get(path=str(trees / row["nexus"]), schema="nexus",
                                      preserve_underscores=True, rooting="force-rooted")
        tree = ds.tree_lists[0][0]
        labels = {n.taxon.label if n.taxon else n.label for n in tree.preorder_node_iter()}
        assert labels == want
