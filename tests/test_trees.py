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
from phylohf.export.trees import file_names, safe_name


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
        rows = list(csv.DictReader(f, delimiter="\t"))
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
