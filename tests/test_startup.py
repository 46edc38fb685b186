"""Start-up cost: a command imports only what it uses, and writes its JSON in one call.

Each check runs in a fresh interpreter (the test process has imported everything already)
and reads ``sys.modules`` there, so a module-level import of a heavy library cannot come
back unnoticed.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phylohf.export.newick import write_newick
from phylohf.genealogy.lineage import Lineage

ROOT = Path(__file__).parents[1]
NEVER = ("scipy.stats", "matplotlib", "ete3", "huggingface_hub", "sklearn")   # no command's start needs them


def _loaded(code: str, *argv: str) -> tuple[set[str], str]:
    """Run ``code`` (which may call phylohf's main) in a fresh interpreter with ``argv``; the
    heavy modules loaded at its end, and its standard output."""
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
             f"sys.argv = ['phylohf', *{list(argv)!r}]\n" + code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    modules = json.loads(p.stderr.rsplit("MODULES ", 1)[1])
    return set(modules), p.stdout


def _main(*argv: str) -> tuple[set[str], str]:
    return _loaded("from phylohf.cli import main\nmain()", *argv)


def test_importing_the_cli_and_building_its_parser_imports_no_heavy_library():
    modules, _ = _loaded("import phylohf.cli\nphylohf.cli.parser()")
    assert not modules & {*NEVER, "scipy", "duckdb", "pyarrow", "pycountry", "tqdm", "yaml"}, modules


def test_help_imports_no_heavy_library():
    modules, out = _main("--help")
    assert "usage: phylohf" in out
    assert not modules & {*NEVER, "scipy", "duckdb", "pyarrow"}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from phylohf.cli import main
    d = tmp_path_factory.mktemp("small")
    assert main(["-q", "simulate", "--models", "300", "--seed", "1", "--out", str(d / "hub.parquet")]) == 0
    assert main(["-q", "ingest", str(d / "hub.parquet"), "--store", str(d / "s.duckdb")]) == 0
    return d / "s.duckdb"


def test_a_command_on_a_store_reads_it_without_pyarrow_or_scipy(small_store):
    modules, out = _main("families", "--store", str(small_store), "--json", "--top", "3")
    assert len(json.loads(out)["families"]) == 3
    assert "duckdb" in modules
    assert not modules & {*NEVER, "scipy", "pyarrow", "pycountry", "yaml"}


@pytest.fixture(scope="module")
def tree_and_states(tmp_path_factory):
    """A random 200-node tree (Newick) and a tab-separated table of two states on its leaves."""
    d = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(3)
    n = 200
    child = np.arange(1, n)
    parent = (rng.random(n - 1) * child).astype(np.int64)
    lin = Lineage.from_edges(np.array([f"n{i}" for i in range(n)], object), np.ones(n, bool),
                             np.zeros(n, np.int64), child, parent, np.ones(n - 1, np.int64), np.zeros(n - 1, np.int8))
    (d / "t.nwk").write_text(write_newick(lin, 0, lengths=np.r_[np.nan, rng.exponential(0.3, n - 1)]) + "\n")
    leaves = np.flatnonzero(lin.out_degree() == 0)
    (d / "s.tsv").write_text("node\tstate\n" + "".join(f"n{v}\t{'ab'[v % 2]}\n" for v in leaves.tolist()))
    return d / "t.nwk", d / "s.tsv", n


def test_asr_on_a_tree_file_needs_neither_the_store_nor_scipy(tree_and_states):
    """The fit's optimiser is phylohf's own (scipy.optimize takes 0.5-0.9 s to import)."""
    tree, states, n = tree_and_states
    modules, out = _main("asr", "--tree", str(tree), "--states", str(states), "--model", "ARD", "--json")
    assert len(json.loads(out)["nodes"]) == n
    assert not modules & {*NEVER, "scipy", "duckdb", "pyarrow"}


def test_asr_json_is_written_in_one_call(tree_and_states):
    tree, states, n = tree_and_states
    code = ("import io, sys\n"
            "class Counting(io.StringIO):\n"
            "    calls = 0\n"
            "    def write(self, s):\n"
            "        Counting.calls += 1\n"
            "        return super().write(s)\n"
            "out, sys.stdout = sys.stdout, Counting()\n"
            "from phylohf.cli import main\n"
            "main()\n"
            "out.write(f'{Counting.calls}\\n' + sys.stdout.getvalue())\n")
    _, out = _loaded(code, "asr", "--tree", str(tree), "--states", str(states), "--model", "ER", "--json")
    calls, text = out.split("\n", 1)
    assert int(calls) == 1
    result = json.loads(text)
    assert len(result["nodes"]) == n and sorted(result["states"]) == ["a", "b"]
    for name, node in result["nodes"].items():
        assert abs(node["a"] + node["b"] - 1) < 1e-5
        if node["observed"]:                              # a known state is certain
            assert node["ab"[int(name[1:]) % 2]] == 1.0


def test_a_likelihood_and_marginals_with_a_given_q_need_no_scipy():
    code = ("import numpy as np\n"
            "from phylohf.genealogy.lineage import Lineage\n"
            "from phylohf.phylo.asr import marginal\n"
            "from phylohf.phylo.mk import log_likelihood, q_matrix\n"
            "n = 2000\n"
            "child = np.arange(1, n)\n"
            "lin = Lineage.from_edges(np.array([f'n{i}' for i in range(n)], object), np.ones(n, bool),\n"
            "                         np.zeros(n, np.int64), child, (child - 1) // 2, np.ones(n - 1, np.int64),\n"
            "                         np.zeros(n - 1, np.int8))\n"
            "states = np.where(np.arange(n) >= n // 2, np.arange(n) % 3, -1)\n"
            "lengths = np.r_[np.nan, np.linspace(0.1, 1.0, n - 1)]\n"
            "Q = q_matrix('ER', [0.5], 3)\n"
            "print(log_likelihood(lin, states, Q, lengths), marginal(lin, states, Q, lengths).posterior.shape)\n")
    modules, out = _loaded(code)
    ll, shape = out.split(" ", 1)
    assert float(ll) < 0 and shape.strip() == "(2000, 3)"
    assert "scipy" not in modules            # sparse sums wait for levels of 4,096 rows
