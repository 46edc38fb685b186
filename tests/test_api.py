"""The Python API: the notebook snippet of the README runs as written, and every command
prints exactly its result's ``to_dict()`` (``--json``) and ``str()`` (text)."""
import json

import numpy as np
import pytest

import phylohf
import phylohf.api
from phylohf.cli import main
from phylohf.export.newick import write_newick
from phylohf.genealogy.lineage import Lineage
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store.database import StoreError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("api")
    write_listing(simulate(3000, seed=2), d / "src.parquet")
    assert main(["-q", "ingest", str(d / "src.parquet"), "--store", str(d / "eco.duckdb")]) == 0
    return d / "eco.duckdb"


@pytest.fixture(scope="module")
def eco(store):
    return phylohf.open(store)


def test_the_snippet_runs_as_written(eco, tmp_path):
    models, families = eco.models, eco.families
    assert models.num_rows == 3000 and len(set(models.column("id").to_pylist())) == 3000
    assert families.column_names[:4] == ["root", "size", "observed", "depth"]
    sizes = families.column("size").to_pylist()
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == eco.load(genome=False)[0].n
    lineage = eco.load()[0]
    largest = families.column("root").to_pylist()[0]
    member = str(lineage.ids[np.flatnonzero((lineage.root == lineage.family_root(largest)) & (lineage.parent >= 0))[0]])
    fam = eco.family(member)                            # any member's id finds its family
    assert fam.root_id == largest
    size = sizes[0]
    assert member in fam.newick()
    assert len(list(fam.to_ete3().traverse())) == size
    assert len(fam.to_dendropy().nodes()) == size
    bio = fam.to_biopython()
    assert len(bio.get_terminals()) + len(bio.get_nonterminals()) == size
    assert fam.draw(tmp_path / "fam.png", color_by="license") in ("ete3", "matplotlib")
    assert (tmp_path / "fam.png").stat().st_size > 1000
    r = eco.asr("license", model="GTR")
    k = len(r.to_dict()["states"])
    assert np.isfinite(r.loglik) and r.loglik == r.to_dict()["loglik"] < 0
    assert r.Q.shape == (k, k) and np.allclose(r.Q.sum(axis=1), 0)
    assert r.posteriors.shape == (lineage.n, k) and np.allclose(r.posteriors.sum(axis=1), 1)
    assert str(r).startswith("== Ancestral states of license (all families) ==") and "GTR" in str(r)
    frame = r.to_frame()
    assert len(frame) == lineage.n and list(frame.column_names if hasattr(frame, "column_names") else frame.columns
                                            )[:2] == ["id", "observed"]


def test_open_fails_on_a_missing_store_and_ingests_when_writable(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        phylohf.open(tmp_path / "new.duckdb")
    write_listing(simulate(200, seed=1), tmp_path / "src.parquet")
    eco = phylohf.open(tmp_path / "new.duckdb", write=True)
    (report,) = eco.ingest(str(tmp_path / "src.parquet"))
    assert report.stored == 200 == eco.models.num_rows
    assert sum(eco.families.column("size").to_pylist()) >= 200
    with pytest.raises(ValueError, match="read-only"):
        phylohf.open(tmp_path / "new.duckdb").ingest(str(tmp_path / "src.parquet"))


# (command line, Ecosystem method, its keyword arguments): the same analysis both ways
CASES = [
    (["families", "--top", "5"], "family_list", {"top": 5}),
    (["asr", "--method", "joint", "--mask", "0.2"], "asr", {"method": "joint", "mask": 0.2}),
    (["asr", "--trait", "task", "--compare", "--rate-classes", "2", "--method", "parsimony"], "asr",
     {"trait": "task", "compare": True, "rate_classes": 2, "method": "parsimony"}),
    (["changes", "--bootstrap", "20"], "changes", {"bootstrap": 20}),
    (["correlate", "--trait", "tag:safetensors", "--with", "license-class:permissive"], "correlate",
     {"trait": "tag:safetensors", "with_trait": "license-class:permissive"}),
    (["transitions", "--null", "9", "--relation", "finetune"], "transitions", {"null": 9, "relation": "finetune"}),
    (["transitions", "--trait", "language"], "transitions", {"trait": "language"}),
    (["audit-licenses", "--top", "3", "--examples", "4"], "audit_licenses", {"top": 3, "examples": 4}),
    (["relatives", "--groups", "license,task", "--bootstrap", "50", "--null", "9"], "relatives",
     {"groups": "license,task", "bootstrap": 50, "null": 9}),
]


@pytest.mark.parametrize("argv, method, kwargs", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_a_command_prints_its_result(eco, store, capsys, argv, method, kwargs):
    result = getattr(eco, method)(**kwargs)
    assert main([*argv, "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result.to_dict()))
    assert main([*argv, "--store", str(store)]) == 0
    assert capsys.readouterr().out == str(result) + "\n"


def test_a_command_on_a_tree_file_prints_its_result(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 60
    child = np.arange(1, n)
    lin = Lineage.from_edges(np.array([f"n{i}" for i in range(n)], object), np.ones(n, bool), np.zeros(n, np.int64),
                             child, (rng.random(n - 1) * child).astype(np.int64), np.ones(n - 1, np.int64),
                             np.zeros(n - 1, np.int8))
    (tmp_path / "t.nwk").write_text(write_newick(lin, 0, lengths=np.r_[np.nan, rng.exponential(0.3, n - 1)]) + "\n")
    leaves = np.flatnonzero(lin.out_degree() == 0).tolist()
    (tmp_path / "s.tsv").write_text("node\tstate\n" + "".join(f"n{v}\t{'ab'[v % 2]}\n" for v in leaves))
    (tmp_path / "p.tsv").write_text("node\tA\tB\n" + "".join(f"n{v}\t{v % 2}\t{v // 2 % 2}\n" for v in leaves))
    eco = phylohf.api.Ecosystem(tmp_path / "no-store.duckdb")           # a tree file needs no store
    tree = str(tmp_path / "t.nwk")
    for argv, result in ((["asr", "--states", str(tmp_path / "s.tsv"), "--method", "joint"],
                          eco.asr(tree=tree, states=tmp_path / "s.tsv", method="joint")),
                         (["correlate", "--states", str(tmp_path / "p.tsv"), "--starts", "1"],
                          eco.correlate(tree=tree, states=tmp_path / "p.tsv", starts=1))):
        assert main([*argv, "--tree", tree, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result.to_dict()))
        assert main([*argv, "--tree", tree]) == 0
        assert capsys.readouterr().out == str(result) + "\n"
    assert len(result.to_dict()["correlate"]["states"]) == 4


def test_the_report_composes_the_results(eco, store, tmp_path, capsys):
    settings = {"bootstrap": 50, "null": 9, "seed": 3}
    report = eco.report(**settings)
    assert main(["-q", "report", "--store", str(store), "--json", str(tmp_path / "r.json"), "--bootstrap", "50",
                 "--null", "9", "--seed", "3"]) == 0
    assert capsys.readouterr().out == str(report) + "\n"
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(report.to_dict(), default=float))
    drift = json.loads(json.dumps(eco.drift(**settings).to_dict(), default=float))   # q: across the report
    assert _unadjusted(drift) == _unadjusted(json.loads(json.dumps(report.to_dict()["drift"], default=float)))


def _unadjusted(x):
    """``x`` without the claims' q-values and verdicts (they depend on the claims adjusted together)."""
    if isinstance(x, dict):
        return {k: _unadjusted(v) for k, v in x.items() if k not in ("q", "supported")}
    return [_unadjusted(v) for v in x] if isinstance(x, list) else x
