"""The command line end to end: demo, simulate -> ingest -> families, exit codes, messages."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from phylohf.cli import main
from phylohf.genealogy.lineage import Lineage
from phylohf.store.database import Store


@pytest.fixture(scope="module")
def eco(tmp_path_factory):
    """A simulated snapshot ingested into a store, through the CLI."""
    d = tmp_path_factory.mktemp("eco")
    assert main(["-q", "simulate", "--models", "5000", "--seed", "3", "--out", str(d / "hub.parquet"),
                 "--truth", str(d / "truth.json")]) == 0
    assert main(["-q", "ingest", str(d / "hub.parquet"), "--store", str(d / "eco.duckdb")]) == 0
    return d


def test_demo_end_to_end(capsys, tmp_path):
    assert main(["-q", "demo", "--models", "4000", "--seed", "2", "--trees", str(tmp_path / "trees")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "trees" / "index.tsv").exists()
    for expected in ("4,000 rows read, 4,000 models stored, 0 skipped", "== Ecosystem overview ==",
                     "Largest families", "Data problems found and how they were handled",
                     "placeholder", "cycle(s) among parent links", "Family trees:", "Transitions of license",
                     "Ancestral states of license", "Masking check", "demo finished in"):
        assert expected in out, expected


def test_families_json_matches_the_lineage(eco, capsys):
    assert main(["families", "--store", str(eco / "eco.duckdb"), "--json", "--top", "5"]) == 0
    fams = json.loads(capsys.readouterr().out)["families"]
    assert len(fams) == 5
    assert [f["size"] for f in fams] == sorted((f["size"] for f in fams), reverse=True)
    with Store(eco / "eco.duckdb", read_only=True) as s:
        lin = Lineage.from_store(s)
    index = lin.index()
    for f in fams:
        root = index[f["root"]]
        members = lin.root == root
        assert lin.parent[root] == -1
        assert f["size"] == members.sum() and f["observed"] == (members & lin.observed).sum()
        assert f["depth"] == lin.depth[members].max()
        assert set(f) == {"root", "size", "observed", "depth", "max_children", "wiener", "relations", "created"}
        assert sum(f["relations"].values()) >= f["size"] - 1


def test_families_text_and_min_size(eco, capsys):
    assert main(["families", "--store", str(eco / "eco.duckdb"), "--min-size", "3", "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert "with at least 3 node(s)" in out and "family root" in out


def test_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["families", "--store", str(tmp_path / "none.duckdb")]) == 1
    err = capsys.readouterr().err
    assert "no store at" in err and "phylohf ingest" in err


def test_store_from_environment(eco, monkeypatch, capsys):
    monkeypatch.setenv("PHYLOHF_STORE", str(eco / "eco.duckdb"))
    assert main(["families", "--top", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["families"]) == 1


def test_strict_ingest_exit_code(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text('{"id": "a/b"}\nnot json\n')
    store = str(tmp_path / "s.duckdb")
    assert main(["-q", "ingest", str(tmp_path / "a.jsonl"), "--store", store]) == 0
    assert main(["-q", "ingest", str(tmp_path / "a.jsonl"), "--store", store, "--strict"]) == 3
    assert "row 2: not valid JSON" in capsys.readouterr().out


def test_bad_input_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("hello")
    assert main(["ingest", str(tmp_path / "x.txt"), "--store", str(tmp_path / "s.duckdb")]) == 1
    assert "expected one of .parquet" in capsys.readouterr().err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["simulate", "--models", "10"])          # --out is required
    assert e.value.code == 2


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "phylohf", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("phylohf ")


def test_transitions_text_and_json(eco, capsys):
    store = str(eco / "eco.duckdb")
    assert main(["transitions", "--store", store, "--null", "19"]) == 0
    out = capsys.readouterr().out
    for expected in ("== Transitions of license (all families) ==", "Conventions:", "Counts:",
                     "Bowker's statistic of symmetry", "Maximum compatible ordering", "null-engine p = "):
        assert expected in out
    assert main(["transitions", "--store", store, "--json", "--top", "3", "--relation", "finetune",
                 "--null", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["states"][-1] == "(rare)" and len(data["states"]) == 4
    assert len(data["counts"]) == 4 and data["claims"] == []
    P_em = np.array(data["P_em"])
    assert data["em"]["converged"] and np.allclose(P_em.sum(axis=1), 1)
    assert data["scope"] == "all families, finetune edges"
    root = json.loads(subprocess.run([sys.executable, "-m", "phylohf", "families", "--store", store, "--json",
                                      "--top", "1"], capture_output=True, text=True).stdout)["families"][0]["root"]
    assert main(["transitions", "--store", store, "--family", root, "--json", "--null", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["scope"] == f"family {root}"
    assert main(["transitions", "--store", store, "--family", "no/such"]) == 1


def test_asr_text_json_and_mask(eco, capsys):
    store = str(eco / "eco.duckdb")
    assert main(["asr", "--store", store, "--top", "4", "--mask", "0.2", "--starts", "1"]) == 0
    out = capsys.readouterr().out
    for expected in ("== Ancestral states of license (all families) ==", "root prior equal",
                     "two-pass", "Q (rates", "Imputed from relatives", "Masking check", "copy parent"):
        assert expected in out, expected
    assert main(["asr", "--store", store, "--top", "3", "--json", "--model", "SYM", "--starts", "1",
                 "--root-prior", "stationary"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"loglik", "model", "states", "Q", "root_prior", "nodes"} <= set(data)
    assert data["model"] == "SYM" and data["root_prior"] == "stationary" and len(data["states"]) == 4
    assert np.allclose(np.sum(data["Q"], axis=1), 0)
    for node in list(data["nodes"].values())[:200]:
        assert abs(sum(v for k, v in node.items() if k != "observed") - 1) < 1e-5
    assert main(["asr", "--store", store, "--json", "--mask", "0.2", "--starts", "1"]) == 0
    check = json.loads(capsys.readouterr().out)["mask_check"]
    near = check["scores"]["with a visible relative"]
    assert 0 < check["with_relative"] < check["hidden"]
    # licenses are inherited: with a visible relative, the Mk marginals beat both baselines
    assert near["Mk marginal"]["accuracy"] > near["copy parent"]["accuracy"] > near["majority"]["accuracy"]
    assert near["Mk marginal"]["log_loss"] < near["copy parent"]["log_loss"]


def test_asr_on_a_user_tree_and_state_table(tmp_path, capsys):
    (tmp_path / "t.nwk").write_text("((a:1,b:2)ab:1,(c:1,'d e':1)cd:2,x:0.5)root;")
    (tmp_path / "s.tsv").write_text("id\tlicense\na\tmit\nb\tmit\nc\tapache\n'd e'\tNA\nd e\tapache\nab\tmit\n")
    assert main(["asr", "--tree", str(tmp_path / "t.nwk"), "--states", str(tmp_path / "s.tsv"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["states"] == ["mit", "apache"] and data["branch_lengths"] == "tree"
    assert set(data["nodes"]) == {"a", "b", "ab", "c", "d e", "cd", "x", "root"}
    assert data["nodes"]["ab"] == {"observed": True, "mit": 1.0, "apache": 0.0}
    assert not data["nodes"]["cd"]["observed"] and data["nodes"]["cd"]["apache"] > 0.5
    assert main(["asr", "--tree", str(tmp_path / "t.nwk")]) == 1
    assert "--tree needs --states" in capsys.readouterr().err


def test_transitions_of_a_set_valued_trait(eco, capsys):
    store = str(eco / "eco.duckdb")
    assert main(["transitions", "--store", store, "--trait", "language"]) == 0
    out = capsys.readouterr().out
    assert "== Gains and losses of language (all families) ==" in out and "no binomial p" in out
    assert main(["transitions", "--store", store, "--trait", "language", "--json", "--relation", "finetune"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scope"] == "all families, finetune edges"
    moved = [e for e in data["elements"] if e["gains"] + e["losses"]]
    # descriptive: edges below one parent share its set, so no p-value that takes them as independent
    assert moved and all(e["net"] == e["gains"] - e["losses"] and "p" not in e for e in moved)


def test_binary_traits(eco, capsys):
    store = str(eco / "eco.duckdb")
    assert main(["transitions", "--store", store, "--trait", "language:en", "--json", "--null", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["states"] == ["absent", "present"] and data["trait"] == "language:en"
    assert main(["asr", "--store", store, "--trait", "language:en", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["states"] == ["absent", "present"]
    assert main(["asr", "--store", store, "--trait", "language:no-such-code"]) == 1
    assert "no trait 'language:no-such-code'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["asr", "--store", store, "--trait", "language"])      # set-valued: transitions only
    assert exit_.value.code == 2


@pytest.mark.parametrize("method", ["joint", "parsimony"])
def test_asr_other_methods(eco, capsys, method):
    store = str(eco / "eco.duckdb")
    assert main(["asr", "--store", store, "--top", "3", "--starts", "1", "--method", method]) == 0
    assert ("Joint reconstruction (Pupko)" if method == "joint" else "Fitch parsimony") in capsys.readouterr().out
    assert main(["asr", "--store", store, "--top", "3", "--starts", "1", "--method", method, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data[method]["nodes"]) == set(data["nodes"])


def test_asr_compare_models(eco, capsys):
    store = str(eco / "eco.duckdb")
    assert main(["asr", "--store", store, "--top", "3", "--starts", "1", "--compare", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["compare"]
    assert set(data["models"]) == {"ER", "F81", "SYM", "GTR", "ARD"}
    assert set(data["lrt"]) == {"SYM vs ER", "GTR vs F81", "ARD vs SYM", "ARD vs GTR"}
    assert data["lrt"]["ARD vs SYM"]["df"] == 6 and data["lrt"]["SYM vs ER"]["df"] == 5
    assert data["lrt"]["ARD vs GTR"]["df"] == 3 and data["lrt"]["GTR vs F81"]["df"] == 5
    assert 0 <= data["lrt"]["ARD vs SYM"]["p"] <= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize("tuned, user, mapped", [(False, None, 1), (True, None, 0), (True, "2", 1)])
def test_commands_keep_big_temporaries_on_the_heap_unless_the_user_tunes_malloc(tuned, user, mapped):
    """An 8 MB array gets a mapping of its own (glibc's mallinfo2().hblks) by default, none
    once a command has tuned malloc, and one again when the user set a MALLOC_ variable."""
    code = ("import ctypes, sys, numpy as np; from phylohf import cli\n"
            "class Info(ctypes.Structure):\n"
            "    _fields_ = [(f, ctypes.c_size_t) for f in ('arena ordblks smblks hblks hblkhd usmblks '\n"
            "                                              'fsmblks uordblks fordblks keepcost').split()]\n"
            "libc = ctypes.CDLL(None); libc.mallinfo2.restype = Info\n"
            f"if {tuned}: cli._heap_for_temporaries()\n"
            "before = libc.mallinfo2().hblks; a = np.ones(1 << 20); print(libc.mallinfo2().hblks - before)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if user:
        env["MALLOC_ARENA_MAX"] = user
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert int(out) == mapped


@pytest.mark.parametrize("user", [None, "2"])
def test_commands_run_on_one_blas_thread_unless_the_user_says(user):
    code = ("import os, numpy, scipy.linalg; from phylohf import cli; cli._one_blas_thread(); "
            "from threadpoolctl import threadpool_info; "
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if user:
        env["OPENBLAS_NUM_THREADS"] = user
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("[1]" if user is None else f"[{user}]")
