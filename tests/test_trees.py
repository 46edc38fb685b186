"""Tree export: reversible file names, one file per family and format, index.tsv, the CLI."""
import csv
import json
from urllib.parse import unquote

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phylohf.cli import main
from phylohf.export.enewick import read_enewick
from phylohf.export.newick import read_newick
from phylohf.export.trees import export_trees, file_names, read_index, safe_name, tsv_field
from phylohf.genealogy.families import families
from phylohf.genealogy.lineage import NO_DATE, Lineage
from test_nexus import genome


@given(st.text(min_size=1, max_size=40))
def test_safe_names_are_reversible_and_plain(model_id):
    name = safe_name(model_id)
    assert unquote(name) == model_id
    assert all(c.isascii() and (c.isalnum() or c in "%-_.~") for c in name)
    assert not name.startswith(".") and "/" not in name


def test_names_that_differ_only_in_case_or_are_long_get_a_hash():
    names = file_names(["Org/Model", "org/model", "a/b", "x/" + "y" * 300])
    assert names[2] == "a%2Fb"
    assert names[0].startswith("Org%2FModel.") and names[1].startswith("org%2Fmodel.")
    assert names[0].lower() != names[1].lower()
    assert len(names[3]) <= 213


RECORDS = [
    {"id": "meta/base", "tags": ["license:llama2", "en", "text-generation"]},
    {"id": "a/ft_1", "tags": ["base_model:finetune:meta/base", "license:apache-2.0"]},
    {"id": "b/it's", "cardData": {"base_model": "meta/base", "language": ["en", "fr"]}},
    {"id": "c/merge", "tags": ["base_model:merge:a/ft_1", "base_model:merge:b/it's"]},
    {"id": "d/q", "tags": ["base_model:quantized:gone/deleted"]},
    {"id": "e/alone", "tags": []},
]


@pytest.fixture
def store(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS))
    path = str(tmp_path / "s.duckdb")
    assert main(["-q", "ingest", str(tmp_path / "a.jsonl"), "--store", path]) == 0
    return path


def test_export_every_family_with_index(store, tmp_path, capsys):
    out = tmp_path / "trees"
    assert main(["-q", "trees", "--store", store, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 8 files for 2 families" in printed
    assert "eNewick: 1 further-parent edges of merges drawn as hybrids" in printed
    with open(out / "index.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows == read_index(out / "index.tsv")
    assert [(r["root"], r["size"], r["observed"], r["depth"]) for r in rows] == [
        ("meta/base", "4", "4", "2"), ("gone/deleted", "2", "1", "1")]
    assert rows[0]["newick"] == "meta%2Fbase.nwk" and rows[1]["nhx"] == "gone%2Fdeleted.nhx"
    tree = read_newick((out / "meta%2Fbase.nwk").read_text())
    assert sorted(tree.names) == ["a/ft_1", "b/it's", "c/merge", "meta/base"]
    by_name = dict(zip(tree.names, tree.parent))
    assert tree.names[by_name["c/merge"]] == "a/ft_1" and by_name["meta/base"] == -1
    assert np.all(tree.length[tree.parent >= 0] == 1)
    nhx = read_newick((out / "gone%2Fdeleted.nhx").read_text())
    attrs = {name: {k: v[i] for k, v in nhx.attributes.items()} for i, name in enumerate(nhx.names)}
    assert attrs["gone/deleted"]["observed"] == "0" and attrs["d/q"]["relation"] == "quantized"
    merged = read_newick((out / "meta%2Fbase.nhx").read_text())
    a = {name: {k: v[i] for k, v in merged.attributes.items()} for i, name in enumerate(merged.names)}
    assert a["c/merge"]["merge_parents"] == "b/it's" and a["meta/base"]["license"] == "llama2"
    assert a["b/it's"]["languages"] == ["en", "fr"]
    net = read_enewick((out / "meta%2Fbase.enwk").read_text())
    names = net.names.tolist()
    assert sorted(names) == ["a/ft_1", "b/it's", "c/merge", "meta/base"]     # the merge appears once
    assert [(names[p], names[c]) for p, c in zip(net.hybrid_parent, net.hybrid_child)] == [("b/it's", "c/merge")]
    assert names[net.parent[names.index("c/merge")]] == "a/ft_1"


def test_one_family_with_options(store, tmp_path):
    out = tmp_path / "one"
    assert main(["-q", "trees", "--store", store, "--out", str(out), "--family", "meta/base",
                 "--format", "newick", "--ancestors", "tips", "--branch-lengths", "days"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["index.tsv", "meta%2Fbase.nwk"]
    tree = read_newick((out / "meta%2Fbase.nwk").read_text())
    assert sorted(tree.names[tree.parent >= 0]).count("meta/base") == 1       # its sampled-ancestor tip


def test_export_errors(store, tmp_path, capsys):
    assert main(["trees", "--store", store, "--out", str(tmp_path), "--family", "a/ft_1"]) == 1
    assert "not a family root; its family is 'meta/base'" in capsys.readouterr().err
    assert main(["trees", "--store", store, "--out", str(tmp_path), "--family", "no/such"]) == 1
    assert main(["trees", "--store", store, "--out", str(tmp_path), "--format", "svg"]) == 1
    assert "unknown format(s) svg" in capsys.readouterr().err


HOSTILE_ROOTS = ["nul\0/x", "tab\there", "line\nfeed", "cr\rlf\r\n", "back\\slash\\t", '"quoted"', "plain/x"]


def test_index_fields_hold_no_raw_tab_newline_or_nul(tmp_path):
    n = len(HOSTILE_ROOTS)
    ids = [*HOSTILE_ROOTS, *(f"child/{i}" for i in range(n))]
    lin = Lineage.from_edges(ids, np.ones(2 * n, bool), np.full(2 * n, NO_DATE), list(range(n, 2 * n)),
                             list(range(n)), [1] * n, [0] * n)
    export_trees(lin, families(lin), genome(2 * n, {}, {}), tmp_path, formats=("newick",))
    data = (tmp_path / "index.tsv").read_bytes()
    assert b"\0" not in data and b"\r" not in data
    lines = data.decode().split("\n")
    assert len(lines) == n + 2 and lines[-1] == ""                # header, one line per family, end
    assert all(line.count("\t") == 4 for line in lines[:-1])
    rows = read_index(tmp_path / "index.tsv")
    assert sorted(r["root"] for r in rows) == sorted(HOSTILE_ROOTS)
    assert tsv_field("a\\t\tb") == "a\\\\t\\tb"             # a literal backslash-t stays apart
    for r in rows:
        assert read_newick(open(tmp_path / r["newick"], encoding="utf-8", newline="").read()).names[-1] == r["root"]
