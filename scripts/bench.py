"""Benchmark phylohf at Hub scale, against the naive approach, in one run.

    python scripts/bench.py [--models 2000000] [--seed 7] [--workdir DIR] [--skip-naive]
                            [--realdata DIR] [--only STAGE,...]

Stages run in child processes so each peak RSS is its own (``os.wait4``):

1. ``simulate``: write a Hub-like Parquet listing of N models.
2. ``phylohf``: ingest (normalise + upsert into DuckDB), lineage, families, genomes; and, as the
   floor under any ingest into DuckDB, the same Parquet file copied as it is into a table of a new
   store (``CREATE TABLE AS SELECT * FROM read_parquet``), in a process of its own.
3. ``load``: what every later command pays: open the store, lineage + families.
4. ``trees``: export every family of 2+ nodes in every format, one file per family and format,
   then with ``--forest`` one file per format holding every family; and, as the floor under
   any writer, the same files (names and sizes) written alone by bare system calls.
5. ``tree1m``: write one 1,000,000-node tree, read it with phylohf, TreeSwift, Bio.Phylo,
   ete3 and dendropy.
6. ``naive``: the paper's way: Python tag parsing, a networkx DiGraph and weakly
   connected components.
7. ``asr``: Mk fitting and marginal ancestral states: (a) one random 100,000-node family,
   a 10-state trait simulated under a random ARD Q, 30% of states hidden: ``fit_mk`` (ARD,
   one start) and ``marginal``, with unit branch lengths and with exponential ones (every
   length distinct: the slower per-edge gradient path; goal: the ARD fit < 5 s); (b) the whole simulated Hub forest
   (from stage 2), license as a categorical trait (top 10 + other), unit branch lengths:
   ARD fit + marginal.

   Optional PastML comparison (PastML pins scipy 1.14, so give it its own venv)::

       python3 -m venv pastml-venv && pastml-venv/bin/pip install pastml six
       python scripts/bench.py --pastml pastml-venv/bin/python   # or PHYLOHF_PASTML=...

   writes a strictly binary 10,000-tip tree and its tip states, runs PastML MPPA/F81 on
   it and ``phylohf asr --tree --states --json`` (F81 with the stationary root prior, as
   PastML's, and ARD), each end to end in a process of its own, and prints the time ratio
   against the goal (100x) and the largest difference of the marginals (goal: 0.02); then
   our ``marginal`` alone with PastML's fitted F81 Q.

8. ``deep``: a 1,000,000-deep lineage (100 side branches, half the states of a 3-state ARD
   trait hidden at random): ``asr`` (fit + marginals), ``transitions`` (counts + EM), the EM
   alone and the null engine (200 replicates of the ordering's test), each against 10 s, and
   ``phylohf asr --tree`` on its Newick file end to end.
9. ``draw``: ``phylohf draw`` of a random 2,000-node family, and of a 50,000-node family
   collapsed by license to at most 2,000 nodes (ete3 with PyQt5, else matplotlib).
10. ``html``: ``phylohf html`` of two 50,000-node families (random; wide, 40,000 children of
   the root) with license posteriors, opened from disk in headless Chromium (``chromium`` and
   ``chromedriver``; skipped without them): time until drawn, file size.
11. ``crawl``: ``ingest hub:all`` of a 100,000-model listing (pages of 1,000, card data and
   config expanded) from the local Hub-like server of the tests (``tests/hubserver.py``),
   through huggingface_hub over real HTTP, unpaced: records per second.
12. ``relatives``: kinship tests on the stage-2 store, every relationship class and trait
   group, 1,000 cluster-bootstrap replicates (Jaccard, then Hamming by exact aggregation);
   the neutral null (200 replicates) of the free tags and of the whole genome, whose
   long-tailed vocabularies are simulated trait by trait;
   1,000 sibling pairs drawn by our sampler and by the paper's (a Python linear scan of
   the cumulative table per draw), with the ratio.
13. ``report``: ``phylohf report`` on the stage-2 store with its defaults (1,000 bootstrap
   and 200 null replicates per claim), time per section.
14. ``realdata`` (only with ``--realdata DIR``): every seed CSV crawl in DIR (e.g. the
   paper authors' own) ingested into a fresh store, then the full report with its
   defaults: time per step and section, rows skipped, non-finite numbers in the report.
15. ``startup``: ``phylohf --help`` and ``phylohf families --json`` on a 300-model store, each
   a fresh process, best of 5 (wall and CPU), against 0.3 s.

Needs ``pip install -e ".[bench]"`` (networkx, TreeSwift). Targets (2 cores): simulate 2M
< 60 s; ingest + lineage + genomes < 10 s and < 3 GB; load < 2 s; all families < 30 s as a
file per family, < 10 s as forest files; ``asr --tree`` 100x faster than PastML; 1M-node tree
written < 2 s and read at least as fast as TreeSwift; asr (a) fit + marginal < 5 s
(unit lengths), ARD fit with distinct lengths < 5 s, (b) < 60 s; deep: asr, transitions, EM
and null engine < 10 s each; draw of a collapsed 50,000-node family < 30 s; its HTML page
opens in < 3 s and is < 20 MB; relatives
< 60 s; report < 4 min and < 4 GB; ``--help`` and a command on a small store < 0.3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stage_simulate(models: int, seed: int, work: Path) -> dict:
    from phylohf.sources.simulate import simulate, write_listing
    t0 = time.perf_counter()
    sim = simulate(models, seed=seed)
    t1 = time.perf_counter()
    write_listing(sim, work / "hub.parquet")
    return {"simulate": t1 - t0, "write parquet": time.perf_counter() - t1}


def stage_phylohf(work: Path) -> dict:
    from phylohf.genealogy.families import families
    from phylohf.genealogy.genome import build
    from phylohf.store.ingest import ingest_file
    from phylohf.genealogy.lineage import Lineage
    from phylohf.store.database import Store
    (work / "hub.duckdb").unlink(missing_ok=True)
    times = {}
    t = time.perf_counter()
    with Store(work / "hub.duckdb") as store:
        report = ingest_file(store, work / "hub.parquet", progress=False)
    times["ingest"] = time.perf_counter() - t           # closing the store (its last checkpoint) included
    with Store(work / "hub.duckdb") as store:
        t = time.perf_counter()
        lineage = Lineage.from_store(store)
        times["lineage"] = time.perf_counter() - t
        t = time.perf_counter()
        fams = families(lineage)
        times["families"] = time.perf_counter() - t
        t = time.perf_counter()
        genome = build(store, lineage.n)
        times["genomes"] = time.perf_counter() - t
    times["info"] = (f"{report.stored:,} models in a store of {(work / 'hub.duckdb').stat().st_size / 1e6:,.0f} MB, "
                     f"{lineage.n - lineage.n_observed:,} placeholders, "
                     f"{len(fams):,} families, {genome.matrix.shape[1]:,} traits, {genome.matrix.nnz:,} cells")
    total = times["ingest"] + times["lineage"] + times["genomes"]
    floor = times["the file copied as it is into DuckDB"] = _copy_alone(work / "hub.parquet")
    times["goals"] = [f"ingest + lineage + genomes {total:.1f} s ({_verdict(total, 10, report.stored)}); "
                      f"the file copied as it is into a DuckDB table takes {floor:.1f} s, {total / floor:.2f}x of it"]
    return times


def _copy_alone(parquet: Path) -> float:
    """Seconds to copy ``parquet`` as it is into a table of a new DuckDB file (the floor under
    any ingest into DuckDB), in a child process so the stage's peak RSS stays its own."""
    code = ("import sys, time; from phylohf.sources.duck import connect; con = connect(sys.argv[2]); "
            "t = time.perf_counter(); "
            "con.execute('CREATE TABLE t AS SELECT * FROM read_parquet(?)', [sys.argv[1]]); con.close(); "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory(dir=parquet.parent) as folder:
        out = subprocess.run([sys.executable, "-c", code, str(parquet), os.path.join(folder, "copy.duckdb")],
                             check=True, capture_output=True, text=True)
    return float(out.stdout)


def _verdict(sec: float, goal: float, models: int, at: int = 2_000_000) -> str:
    """Whether ``sec`` meets the goal of ``goal`` seconds set for ``at`` models."""
    if models < at:
        return f"goal < {goal:g} s is for {at:,} models, not {models:,}"
    return f"goal < {goal:g} s: {'met' if sec < goal else 'NOT met'}"


def stage_load(work: Path) -> dict:
    from phylohf.genealogy.families import families
    from phylohf.genealogy.lineage import Lineage
    from phylohf.store.database import Store
    t = time.perf_counter()
    with Store(work / "hub.duckdb", read_only=True) as store:
        lineage = Lineage.from_store(store)
    families(lineage)
    sec = time.perf_counter() - t
    return {"load store + lineage + families": sec,
            "goals": [f"a later command's load {sec:.1f} s (goal < 2 s: {'met' if sec < 2 else 'NOT met'})"]}


def stage_naive(work: Path) -> dict:
    """Parse tags in Python, build a networkx DiGraph, take weakly connected components."""
    import networkx as nx
    import pyarrow.parquet as pq
    t = time.perf_counter()
    rows = pq.read_table(work / "hub.parquet", columns=["id", "tags"]).to_pylist()
    graph = nx.DiGraph()
    licenses = {}
    for row in rows:
        graph.add_node(row["id"])
        for tag in row["tags"]:
            if tag.startswith("license:"):
                licenses[row["id"]] = tag[8:]
            elif tag.startswith("base_model:"):
                parent = tag.split(":")[-1]
                graph.add_edge(parent, row["id"])
    t1 = time.perf_counter()
    sizes = sorted((len(c) for c in nx.weakly_connected_components(graph)), reverse=True)
    return {"parse + DiGraph": t1 - t, "weakly connected components": time.perf_counter() - t1,
            "info": f"{graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges, "
                    f"largest component {sizes[0]:,}"}


def stage_trees(work: Path) -> dict:
    """Export every family of two or more nodes in every format: one file per family and
    format (goal < 30 s), then with ``--forest`` one file per format (goal < 10 s); CPU
    counts the file writer process. The last run's files are moved aside and removed only
    after the timing: on ext4 without a journal, files created within a minute or more of
    deleting many others are slow (the inode allocator scans past every recently freed inode).
    So a rerun right after one is slower still."""
    import shutil

    from phylohf.api import load
    from phylohf.export.trees import FORMATS, export_trees
    from phylohf.store.database import Store
    with Store(work / "hub.duckdb", read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
    times, goals = {}, []
    for forest, goal in ((True, 10), (False, 30)):
        out = work / ("forest" if forest else "trees")
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():                # removed after the timing: see the docstring
            out.rename(old)
        t, cpu = time.perf_counter(), sum(os.times()[:4])      # with the file writer process
        report = export_trees(lineage, fams, genome, out, formats=FORMATS, forest=forest)
        sec = times[f"{'forest files' if forest else 'file per family'} ({len(FORMATS)} formats)"] = \
            time.perf_counter() - t
        cpu = sum(os.times()[:4]) - cpu
        goals.append(f"{'--forest' if forest else 'per family'}: {report.files:,} files in {sec:.1f} s, CPU "
                     f"{cpu:.1f} s ({_verdict(sec, goal, lineage.n_observed)})")
        shutil.rmtree(old, ignore_errors=True)
    floor = times["the same files, written alone"] = _write_alone(out, out.with_name("trees.alone"))
    goals.append(f"per family, the filesystem alone: the same {report.files:,} files (names, sizes) written by "
                 f"open/write/close with no rendering in {floor:.1f} s, {sec / floor:.2f}x of it")
    return {**times, "goals": goals, "info": f"{report.families:,} families in {', '.join(FORMATS)}"}


def _write_alone(done: Path, into: Path) -> float:
    """Seconds to write files of the names and sizes of those in ``done`` into the new folder
    ``into`` by bare system calls (the floor under any writer of them), ``into`` removed after."""
    import shutil

    from phylohf.export.files import write_file
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir()
    files = [(os.path.join(into, e.name), e.stat().st_size) for e in os.scandir(done) if e.is_file()]
    t = time.perf_counter()
    for path, size in files:
        write_file(path, b"x" * size)
    sec = time.perf_counter() - t
    shutil.rmtree(into, ignore_errors=True)
    return sec


def _big_tree(n: int, seed: int, relations: int = 1, wide: float = 0.0):
    """A random family of n nodes: each node's parent drawn uniformly among earlier nodes (with
    probability ``wide`` the root instead), the edge's relation uniformly among the first
    ``relations`` relation types."""
    import numpy as np

    from phylohf.genealogy.lineage import Lineage
    rng = np.random.default_rng(seed)
    child = np.arange(1, n)
    parent = (rng.random(n - 1) * child).astype(np.int64)
    if wide:
        parent[rng.random(n - 1) < wide] = 0
    ids = np.array([f"org{i % 997}/model-{i}" for i in range(n)], object)
    return Lineage.from_edges(ids, np.ones(n, bool), np.zeros(n, np.int64), child, parent,
                              np.ones(n - 1, np.int64), rng.integers(0, relations, n - 1).astype(np.int8))


def stage_tree1m(work: Path, seed: int) -> dict:
    """Write one 1,000,000-node tree, then read it with phylohf and the peer libraries."""
    import io

    import numpy as np

    from phylohf.export.newick import read_newick, write_newick
    lin = _big_tree(1_000_000, seed)
    t = time.perf_counter()
    text = write_newick(lin, 0, lengths=np.ones(lin.n))
    times = {"write 1M-node tree": time.perf_counter() - t}
    readers = {"phylohf": lambda: read_newick(text)}
    try:
        import treeswift
        readers["TreeSwift"] = lambda: treeswift.read_tree_newick(text)
    except ImportError:
        pass
    from Bio import Phylo
    readers["Bio.Phylo"] = lambda: Phylo.read(io.StringIO(text), "newick")
    from ete3 import Tree
    readers["ete3"] = lambda: Tree(text, format=1)
    import dendropy
    readers["dendropy"] = lambda: dendropy.Tree.get(data=text, schema="newick", preserve_underscores=True,
                                                    suppress_internal_node_taxa=True)
    for name, read in readers.items():
        t = time.perf_counter()
        read()
        times[f"read it: {name}"] = time.perf_counter() - t
    return times


def _random_q(k: int, rng):
    """A random ARD rate matrix: off-diagonal rates log-uniform in [0.02, 0.2]."""
    import numpy as np

    from phylohf.phylo.mk import q_matrix
    return q_matrix("ARD", np.exp(rng.uniform(np.log(0.02), np.log(0.2), k * (k - 1))), k)


def _binary_tree(tips: int, rng):
    """A strictly binary random tree (each step splits a uniform current tip in two) as a
    Lineage with ids t0, t1, ..., and exponential branch lengths (mean 0.1; root NaN)."""
    import numpy as np

    from phylohf.genealogy.lineage import Lineage
    n = 2 * tips - 1
    parent = np.full(n, -1, np.int64)
    leaves = [0]
    for i in range(1, n, 2):
        j = int(rng.integers(len(leaves)))
        p = leaves[j]
        leaves[j] = i
        leaves.append(i + 1)
        parent[i] = parent[i + 1] = p
    child = np.arange(1, n)
    lengths = np.r_[np.nan, rng.exponential(0.1, n - 1)]
    ids = np.array([f"t{i}" for i in range(n)], object)
    lin = Lineage.from_edges(ids, np.ones(n, bool), np.zeros(n, np.int64), child, parent[child],
                             np.ones(n - 1, np.int64), np.zeros(n - 1, np.int8))
    return lin, lengths


def _posteriors(path: Path, index: dict[str, int], k: int) -> np.ndarray:
    """PastML's marginal probabilities table (node, s0, s1, ...) as a (nodes, k) array, NaN where absent."""
    import csv

    import numpy as np
    rows = list(csv.reader(open(path), delimiter="\t"))
    cols = [rows[0].index(f"s{i}") for i in range(k)]
    out = np.full((len(index), k), np.nan)
    for row in rows[1:]:
        if (v := index.get(row[0])) is not None:
            out[v] = [float(row[c]) for c in cols]
    return out


def _pastml_compare(work: Path, seed: int, python: str) -> dict:
    """End to end on a 10,000-tip binary tree: PastML MPPA/F81 against ``phylohf asr --tree
    --json`` (its own F81 fit with the stationary root prior, as PastML's; and ARD), each a
    process of its own; then our ``marginal`` with PastML's fitted Q, the likelihood engine alone."""
    import csv

    import numpy as np

    from phylohf.export.newick import write_newick
    from phylohf.phylo.asr import marginal
    from phylohf.phylo.mk import simulate_states
    rng = np.random.default_rng(seed + 2)
    k = 4
    lin, lengths = _binary_tree(10_000, rng)
    pi = np.array([0.4, 0.3, 0.2, 0.1])
    Q = np.tile(pi, (k, 1)) * 2.0
    Q[np.diag_indices(k)] = 0.0
    Q[np.diag_indices(k)] = -Q.sum(axis=1)
    states = simulate_states(lin, Q, np.nan_to_num(lengths), pi, rng)
    tips = np.flatnonzero(np.bincount(lin.parent[lin.parent >= 0], minlength=lin.n) == 0)
    out = work / "pastml"
    out.mkdir(parents=True, exist_ok=True)
    tree, table = out / "tree.nwk", out / "states.tab"
    tree.write_text(write_newick(lin, 0, lengths=lengths) + "\n")
    with open(table, "w") as f:
        f.write("node\tstate\n" + "".join(f"{lin.ids[v]}\ts{states[v]}\n" for v in tips))
    t = time.perf_counter()
    subprocess.run([python, "-m", "pastml.acr", "-t", str(tree), "-d", str(table),
                    "-c", "state", "--prediction_method", "MPPA", "-m", "F81", "--work_dir", str(out / "run"),
                    "--threads", "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t_pastml = time.perf_counter() - t
    ends = {}
    for model in ("F81", "ARD"):
        t = time.perf_counter()
        with open(out / f"phylohf-{model}.json", "w") as f:
            subprocess.run([sys.executable, "-m", "phylohf", "asr", "--tree", str(tree), "--states", str(table),
                            "--model", model, "--root-prior", "stationary" if model == "F81" else "equal",
                            "--json"], check=True, stdout=f)
        ends[model] = time.perf_counter() - t
    params = {}
    for row in csv.reader(open(next((out / "run").glob("params.character_state.method_MPPA*.tab"))),
                          delimiter="\t"):
        if len(row) >= 2:
            params[row[0]] = row[1]
    freq = np.array([float(params[f"s{i}"]) for i in range(k)])
    sf = float(params["scaling_factor"])
    # PastML's F81: P(t) = e^{-mu sf t} I + (1 - e^{-mu sf t}) 1 pi^T, mu = 1 / (1 - sum pi^2)
    Qp = np.tile(freq, (k, 1)) * sf / (1.0 - (freq ** 2).sum())
    Qp[np.diag_indices(k)] = 0.0
    Qp[np.diag_indices(k)] = -Qp.sum(axis=1)
    ours = np.full(lin.n, -1, np.int64)
    ours[tips] = states[tips]
    t = time.perf_counter()
    m = marginal(lin, ours, Qp, lengths, root_prior="stationary")
    t_ours = time.perf_counter() - t
    index = {name: i for i, name in enumerate(lin.ids.tolist())}
    theirs = _posteriors(next((out / "run").glob("marginal_probabilities.character_state*.tab")), index, k)
    internal = np.flatnonzero((ours < 0) & ~np.isnan(theirs[:, 0]))
    engine = float(np.abs(theirs[internal] - m.posterior[internal]).max())
    nodes = json.load(open(out / "phylohf-F81.json"))["nodes"]
    cli = np.array([[nodes[lin.ids[v]][f"s{i}"] for i in range(k)] for v in internal.tolist()])
    end_to_end = float(np.abs(theirs[internal] - cli).max())
    ratio = t_pastml / ends["F81"]
    return {"PastML MPPA/F81, 10k tips (end to end)": t_pastml,
            "phylohf asr --tree --model F81 --json": ends["F81"],
            "phylohf asr --tree --model ARD --json": ends["ARD"],
            "phylohf marginal alone, PastML's Q": t_ours,
            "goals": [f"asr --tree end to end: PastML / phylohf F81 {ratio:.0f}x, ARD {t_pastml / ends['ARD']:.0f}x "
                      f"(goal >= 100x: {'met' if ratio >= 100 else 'NOT met'})",
                      f"marginals, phylohf's own F81 fit against PastML's: max |difference| {end_to_end:.4f} over "
                      f"{len(internal):,} internal nodes (goal <= 0.02: {'met' if end_to_end <= 0.02 else 'NOT met'}); "
                      f"with PastML's Q {engine:.1e}"]}


def stage_asr(work: Path, seed: int, pastml: str | None = None) -> dict:
    """Mk ARD fit + marginal ASR on a random 100,000-node family and on the whole Hub forest."""
    import numpy as np

    from phylohf.phylo.asr import marginal
    from phylohf.phylo.mk import fit_mk, simulate_states
    rng = np.random.default_rng(seed)
    k = 10
    lin = _big_tree(100_000, seed)
    times = {}
    # unit lengths (the Hub's convention: few distinct lengths), then continuous ones
    for kind in ("unit", "exp"):
        lengths = np.r_[np.nan, np.ones(lin.n - 1) if kind == "unit" else rng.exponential(1.0, lin.n - 1)]
        states = simulate_states(lin, _random_q(k, rng), np.nan_to_num(lengths), np.full(k, 1 / k), rng)
        states[rng.random(lin.n) < 0.3] = -1
        t = time.perf_counter()
        fit = fit_mk(lin, states, lengths, model="ARD", starts=1, k=k)
        times[f"100k, k=10, {kind} lengths: ARD fit" + (" (goal < 5 s)" if kind == "exp" else "")] = \
            time.perf_counter() - t
        t = time.perf_counter()
        marginal(lin, states, fit.Q, lengths)
        times[f"100k, k=10, {kind} lengths: marginal"] = time.perf_counter() - t
    del lin, lengths, states

    from phylohf.api import load
    from phylohf.store.database import Store
    from phylohf.genealogy.traits import categorical
    with Store(work / "hub.duckdb", read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
    states, names = categorical(genome, "license", 10)
    del genome, fams
    lengths = np.ones(lineage.n)
    t = time.perf_counter()
    fit = fit_mk(lineage, states, lengths, model="ARD", starts=1, k=len(names))
    times["Hub forest, license: ARD fit"] = time.perf_counter() - t
    t = time.perf_counter()
    marginal(lineage, states, fit.Q, lengths)
    times["Hub forest, license: marginal"] = time.perf_counter() - t
    times["info"] = (f"{lineage.n:,} Hub nodes, {int((states >= 0).sum()):,} with a license, "
                     f"{len(names)} states")
    del lineage, states, lengths
    if pastml:
        times.update(_pastml_compare(work, seed, pastml))
    return times


def _deep_chain(n: int, seed: int, k: int = 3, hidden: float = 0.5):
    """An n-deep lineage (one chain) with 100 side branches of up to 50 nodes, relation types
    drawn per edge, a k-state ARD trait simulated with unit lengths and a share ``hidden`` of
    its states unknown, scattered at random: (lineage, states, lengths)."""
    import numpy as np

    from phylohf.genealogy.lineage import Lineage
    from phylohf.phylo.mk import simulate_states
    rng = np.random.default_rng(seed)
    parent = [np.arange(-1, n - 1)]
    m = n
    for b in rng.choice(n, 100, replace=False):
        size = int(rng.integers(1, 51))
        parent.append(np.r_[b, np.arange(m, m + size - 1)])
        m += size
    parent = np.concatenate(parent)
    child = np.flatnonzero(parent >= 0)
    ids = np.array([f"org{i % 997}/model-{i}" for i in range(m)], object)
    lin = Lineage.from_edges(ids, np.ones(m, bool), np.zeros(m, np.int64), child, parent[child],
                             np.ones(len(child), np.int64), rng.integers(0, 3, len(child)).astype(np.int8))
    lengths = np.r_[np.nan, np.ones(m - 1)]
    states = simulate_states(lin, _random_q(k, rng), np.ones(m), np.full(k, 1 / k), rng)
    states[rng.random(m) < hidden] = -1
    return lin, states, lengths


def stage_deep(work: Path, seed: int) -> dict:
    """A 1,000,000-deep lineage: ``asr`` (ARD fit + marginals), ``transitions`` (counts,
    ordering, EM), the EM alone and the null engine (the ordering's test, 200 replicates),
    through their entry points; ``asr --tree`` end to end on its Newick file."""
    import numpy as np

    from phylohf.export.newick import write_newick
    from phylohf.phylo.mk import MkData
    from phylohf.phylo.null import fit_null, null_test
    from phylohf.phylo.reconstruct import reconstruct
    from phylohf.phylo.transitions import em_matrix, ordering_statistic, tree_transitions
    k = 3
    lin, states, lengths = _deep_chain(1_000_000, seed, k)
    times = {}

    def timed(label, f):
        t = time.perf_counter()
        out = f()
        times[label] = time.perf_counter() - t
        return out

    r = timed("1M deep: asr, ARD fit + marginals (goal < 10 s)",
              lambda: reconstruct(lin, states, k, lengths, "ARD", starts=1))
    timed("1M deep: transitions, counts + EM (goal < 10 s)", lambda: tree_transitions(lin, states, k))
    em = timed("1M deep: EM alone (goal < 10 s)", lambda: em_matrix(lin, states, k))
    model = timed("1M deep: null model fit (SYM, 2 rate classes)", lambda: fit_null(lin, states, k))
    timed("1M deep: null engine, 200 replicates (goal < 10 s)",
          lambda: null_test(lin, states, model, ordering_statistic(lin.parent, k), 200, seed))
    tree, table = work / "deep.nwk", work / "deep.tsv"
    tree.write_text(write_newick(lin, 0, lengths=lengths) + "\n")
    known = np.flatnonzero(states >= 0)
    table.write_text("node\tstate\n" + "".join(f"{lin.ids[v]}\ts{states[v]}\n" for v in known.tolist()))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "phylohf", "asr", "--tree", str(tree), "--states", str(table),
                    "--model", "ARD", "--starts", "1"], check=True, stdout=subprocess.DEVNULL)
    times["1M deep: phylohf asr --tree, end to end"] = time.perf_counter() - t
    times["info"] = (f"{lin.n:,} nodes, depth {int(lin.depth.max()):,}, {len(known):,} known states; "
                     f"{len(MkData(lin, states, lengths, k=k).levels)} levels after cutting at known nodes; "
                     f"ARD loglik {r.fit.loglik:.1f}, EM {em.iterations} iterations")
    return times


def stage_rates(work: Path, seed: int) -> dict:
    """The rate models on a random 100,000-node family, k = 10 (two relation types), and the
    bootstrap LRT on 10,000 nodes."""
    import numpy as np

    from phylohf.phylo.asr import marginal
    from phylohf.phylo.bootstrap import bootstrap_lrt
    from phylohf.phylo.byrelation import fit_by_relation
    from phylohf.phylo.changes import edge_changes, summarise
    from phylohf.phylo.correlate import correlate
    from phylohf.phylo.mk import fit_mk, lrt, simulate_states
    from phylohf.phylo.rateclasses import fit_rate_classes
    rng = np.random.default_rng(seed)
    k, times = 10, {}

    def timed(label, f):
        t = time.perf_counter()
        out = f()
        times[label] = time.perf_counter() - t
        return out

    for n in (100_000, 10_000):
        lin = _big_tree(n, seed, relations=2)
        lengths = np.r_[np.nan, np.ones(n - 1)]
        states = simulate_states(lin, _random_q(k, rng), np.ones(n), np.full(k, 1 / k), rng)
        states[rng.random(n) < 0.3] = -1
        size = f"{n // 1000}k"
        if n == 100_000:
            gtr = timed(f"{size}: GTR fit (goal: + marginals < 3 s)", lambda: fit_mk(lin, states, lengths, "GTR", starts=1, k=k))
            timed(f"{size}: GTR marginals", lambda: marginal(lin, states, gtr.Q, lengths))
            timed(f"{size}: changes (pairs, jumps, 200 family-bootstrap CIs; Q given; goal < 3 s)",
                  lambda: summarise(lin, edge_changes(lin, states, gtr.Q, lengths)))
            ard = timed(f"{size}: ARD fit", lambda: fit_mk(lin, states, lengths, "ARD", starts=1, k=k))
            timed(f"{size}: --by-relation ARD (2 relations; one-Q fit given; goal < 10 s)",
                  lambda: fit_by_relation(lin, states, lengths, "ARD", k, starts=1, single=ard))
            a, b = (states % 2).astype(np.int64), (states // 5).astype(np.int64)
            a[states < 0], b[states < 0] = -1, -1
            timed(f"{size}: correlate (independent and dependent fits; goal < 5 s)",
                  lambda: correlate(lin, a, b, lengths, starts=1))
            sym = fit_mk(lin, states, lengths, "SYM", starts=1, k=k)
            timed(f"{size}: --rate-classes 2, SYM (one-class fit given; goal < 20 s)",
                  lambda: fit_rate_classes(lin, states, lengths, "SYM", k, 2, starts=1, single=sym))
        else:
            sym = fit_mk(lin, states, lengths, "SYM", starts=1, k=k)
            stat = lrt(sym, fit_mk(lin, states, lengths, "ARD", starts=1, k=k))[0]
            timed(f"{size}: --bootstrap-lrt 100, ARD vs SYM (goal < 60 s)",
                  lambda: bootstrap_lrt(lin, states, lengths, sym, "ARD", 100, seed, stat))
    return times


def _licensed_family(n: int, seed: int, wide: float = 0.0):
    """(lineage, genome) of a random n-node family (``wide``: as :func:`_big_tree`) whose licenses
    (6 ids) are inherited and change with p = 0.02 per edge."""
    import numpy as np
    import scipy.sparse as sp

    from phylohf.genealogy.genome import GROUPS, Genome
    lin = _big_tree(n, seed, wide=wide)
    rng = np.random.default_rng(seed)
    lic = np.zeros(n, np.int64)
    for nodes in lin.levels()[1:]:
        lic[nodes] = np.where(rng.random(len(nodes)) < 0.02, rng.integers(0, 6, len(nodes)),
                              lic[lin.parent[nodes]])
    declared = np.zeros((n, len(GROUPS)), bool)
    declared[:, 0] = True
    return lin, Genome(sp.csr_matrix((np.ones(n, bool), (np.arange(n), lic)), shape=(n, 6)),
                       np.zeros(6, np.int64), np.array(["apache-2.0", "mit", "llama3", "gemma", "other",
                                                        "cc-by-nc-4.0"], object), np.ones(6, np.int64), declared)


def stage_draw(work: Path, seed: int) -> dict:
    """Draw a 2,000-node family and a 50,000-node one collapsed by license (target: < 30 s)."""
    from phylohf.export.draw import draw_family
    times, info = {}, []
    for n, collapse in ((2_000, None), (50_000, "license")):
        lin, genome = _licensed_family(n, seed)
        t = time.perf_counter()
        d, engine = draw_family(lin, genome, 0, work / f"draw-{n}.png", collapse_by=collapse)
        times[f"{n:,}-node family{', collapsed' if collapse else ''} ({engine})"] = time.perf_counter() - t
        info.append(f"{n:,} nodes -> {len(d):,} drawn")
    return {**times, "info": "; ".join(info)}


def stage_html(work: Path, seed: int) -> dict:
    """``phylohf html`` of two 50,000-node families with license posteriors, a random one and a
    wide one (80% of the models children of the root), opened from disk in headless Chromium
    (targets: drawn in < 3 s, file < 20 MB)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from browser import chrome, chromium_missing, errors, open_page

    from phylohf.export.explorer import write_page
    times, info, pages = {}, [], []
    for name, wide in (("random", 0.0), ("wide", 0.8)):
        lin, genome = _licensed_family(50_000, seed, wide)
        out = work / f"family-50k-{name}.html"
        t = time.perf_counter()
        data, size = write_page(lin, genome, 0, out, asr="license")
        times[f"write the {name} page (--asr license)"] = time.perf_counter() - t
        pages.append((name, out, size, data))
    if why := chromium_missing():
        return {**times, "info": "; ".join(f"{name} {size / 1e6:.1f} MB" for name, _, size, _ in pages)
                + f" (goal < 20 MB); not opened: {why}"}
    driver = chrome()
    try:
        for name, out, size, data in pages:
            t = time.perf_counter()
            ready = open_page(driver, out)
            times[f"open the {name} page (until drawn)"] = time.perf_counter() - t
            drawn, bad = driver.execute_script("return document.body.dataset.drawn"), errors(driver)
            info.append(f"{name}: {size / 1e6:.1f} MB (goal < 20 MB), drawn after {ready / 1000:.2f} s from "
                        f"navigation (goal < 3 s), {int(drawn):,} nodes drawn, {len(bad)} console errors")
    finally:
        driver.quit()
    return {**times, "info": "; ".join(info)}


def stage_crawl(work: Path) -> dict:
    """``hub:all`` of 100,000 models from the local test server: records per second."""
    import importlib.util

    from phylohf.store.ingest import crawl_listing
    from phylohf.sources.hub import HubSettings
    from phylohf.sources.simulate import simulate
    from phylohf.store.database import Store
    spec = importlib.util.spec_from_file_location("hubserver", Path(__file__).parents[1] / "tests" / "hubserver.py")
    hubserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubserver)
    times = {}
    t = time.perf_counter()
    records, cards = hubserver.api_records(simulate(100_000, seed=7).listing)
    times["simulate the served records"] = time.perf_counter() - t
    store_path = work / "crawl.duckdb"
    store_path.unlink(missing_ok=True)
    with hubserver.HubServer(records, cards) as hub, Store(store_path) as store:
        t = time.perf_counter()
        report = crawl_listing(store, HubSettings(endpoint=hub.url, api_quota=10**9, token=False), progress=False)
        times["crawl hub:all"] = time.perf_counter() - t
        pages = hub.count("/api/models")
    rate = report.stored / times["crawl hub:all"]
    return {**times, "info": f"{report.stored:,} models in {pages} pages, {rate:,.0f} records/s"}


def stage_relatives(work: Path, draws: int = 1000) -> dict:
    """Kinship tests on the stage-2 store: every class and trait group, 1,000 cluster-bootstrap
    replicates (Jaccard on sampled pairs; Hamming exact by aggregation); then ``draws``
    sibling pairs with our sampler and with the paper's (Python linear scan of the cumulative
    table per draw)."""
    import random

    import numpy as np

    from phylohf.genealogy.genome import build
    from phylohf.genealogy.lineage import Lineage
    from phylohf.analyses.relatives import GROUP_CHOICES, Pairs, kinship
    from phylohf.store.database import Store
    times = {}
    t = time.perf_counter()
    with Store(work / "hub.duckdb", read_only=True) as store:
        lineage = Lineage.from_store(store)
        genome = build(store, lineage.n)
    times["load lineage + genomes"] = time.perf_counter() - t
    for metric in ("jaccard", "hamming"):
        t = time.perf_counter()
        result = kinship(lineage, genome, groups=GROUP_CHOICES, metric=metric, bootstrap=1000, null=0, seed=1)
        times[f"relatives --metric {metric} --bootstrap 1000"] = time.perf_counter() - t
    for group in ("tag", "all"):                 # the long-tailed vocabularies: the set null's cost
        t = time.perf_counter()
        kinship(lineage, genome, groups=[group], bootstrap=0, null=200, seed=1)
        times[f"relatives --groups {group} --null 200"] = time.perf_counter() - t
    pairs = Pairs("siblings", lineage.observed, lineage.parent, lineage.root)
    t = time.perf_counter()
    pairs.sample(draws, np.random.default_rng(1))
    ours = time.perf_counter() - t
    cum, weight, total = pairs.cum.tolist(), pairs.weight.tolist(), pairs.ordered
    t = time.perf_counter()
    for _ in range(draws):
        u = random.randrange(total)
        for i, c in enumerate(cum):
            if c > u:
                break
        random.randrange(weight[i])
    paper = time.perf_counter() - t
    times[f"{draws:,} sibling pairs, our sampler"] = ours
    times[f"{draws:,} sibling pairs, paper's linear scan"] = paper
    n = sum(c["n"] for g in result["groups"].values() for c in g["classes"].values())
    times["info"] = (f"{n:,} pairs in {len(result['groups'])} groups x 8 classes; sampler table "
                     f"{len(cum):,} entries: paper's scan / ours = {paper / max(ours, 1e-9):,.0f}x")
    return times


def stage_report(work: Path) -> dict:
    """``phylohf report`` on the stage-2 store with its defaults (goal: < 4 min, < 4 GB at 2M models)."""
    from phylohf.api import load
    from phylohf.report.full import build
    from phylohf.store.database import Store
    t = time.perf_counter()
    with Store(work / "hub.duckdb", read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        times = {"load lineage, families, genomes": time.perf_counter() - t}
        report = build(store, lineage, fams, genome)
    times.update({f"section {key}": sec for key, sec in report.seconds.items()})
    total = sum(times.values())
    times["info"] = f"{lineage.n:,} nodes, {len(report.text()):,} characters of report"
    times["goals"] = [f"report {total:.1f} s ({_verdict(total, 240, lineage.n_observed)})"]
    times["peak_goal"] = 4.0
    return times


def stage_realdata(work: Path, realdata: Path) -> dict:
    """Every seed CSV of the folder ``realdata`` ingested into a fresh store, then the full
    report with its defaults, as a user would run them on real crawls."""
    import re

    from phylohf.api import load
    from phylohf.report.full import build
    from phylohf.store.ingest import ingest_file
    from phylohf.store.database import Store
    files = sorted(realdata.glob("*.csv"))
    if not files:
        raise SystemExit(f"--realdata {realdata}: no .csv files there")
    path = work / "realdata.duckdb"
    path.unlink(missing_ok=True)
    t = time.perf_counter()
    with Store(path) as store:
        reports = [ingest_file(store, f, progress=False) for f in files]
    times = {f"ingest {len(files)} seed CSV files": time.perf_counter() - t}
    t = time.perf_counter()
    with Store(path, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        times["load lineage, families, genomes"] = time.perf_counter() - t
        report = build(store, lineage, fams, genome)
    times.update({f"section {key}": sec for key, sec in report.seconds.items()})
    text = report.text()
    odd = len(re.findall(r"\b(?:nan|inf)\b", text, re.IGNORECASE))
    times["info"] = (f"{sum(r.rows_read for r in reports):,} rows read, {sum(r.skipped for r in reports):,} "
                     f"skipped; {lineage.n_observed:,} models, {lineage.n - lineage.n_observed:,} placeholders, "
                     f"{len(fams):,} families; {len(text):,} characters of report, {odd} non-finite numbers")
    return times


def stage_startup(work: Path) -> dict:
    """Start-up: ``phylohf --help`` and a command on a 300-model store, each in a fresh
    process, the best of 5 runs (wall clock and CPU, user + sys)."""
    import resource
    small = work / "startup"
    small.mkdir(parents=True, exist_ok=True)
    (small / "s.duckdb").unlink(missing_ok=True)
    cli = [sys.executable, "-m", "phylohf"]
    subprocess.run(cli + ["-q", "simulate", "--models", "300", "--seed", "1", "--out", str(small / "hub.parquet")],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(cli + ["-q", "ingest", str(small / "hub.parquet"), "--store", str(small / "s.duckdb")],
                   check=True, stdout=subprocess.DEVNULL)
    times, goals = {}, []
    for label, argv in (("phylohf --help", ["--help"]),
                        ("phylohf families --json, 300 models", ["families", "--store", str(small / "s.duckdb"),
                                                                 "--json", "--top", "3"])):
        walls, cpus = [], []
        for _ in range(5):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cli + argv, check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        times[label] = min(walls)
        times[f"{label} (CPU)"] = min(cpus)
        goals.append(f"{label}: {min(walls):.2f} s, CPU {min(cpus):.2f} s, best of 5 "
                     f"(goal < 0.3 s: {'met' if min(walls) < 0.3 else 'NOT met'})")
    times["goals"] = goals
    return times


STAGES = {"simulate": stage_simulate, "phylohf": stage_phylohf, "load": stage_load, "trees": stage_trees,
          "tree1m": stage_tree1m, "naive": stage_naive, "asr": stage_asr, "deep": stage_deep, "rates": stage_rates,
          "draw": stage_draw, "html": stage_html, "crawl": stage_crawl, "relatives": stage_relatives,
          "report": stage_report, "realdata": stage_realdata, "startup": stage_startup}


def _byte_compile() -> None:
    """Byte-compile phylohf's modules, as pip does when it installs a wheel (and as PastML's
    install was): an editable install under PYTHONDONTWRITEBYTECODE would otherwise compile
    them again at every start of a timed command."""
    import compileall

    import phylohf
    compileall.compile_dir(Path(phylohf.__file__).parent, quiet=1)


def run_stage(name: str, args) -> tuple[dict, float]:
    """Run one stage in a child process; returns its timings and peak RSS in GB."""
    cmd = [sys.executable, __file__, "--stage", name, "--models", str(args.models),
           "--seed", str(args.seed), "--workdir", str(args.workdir)]
    if name == "asr" and args.pastml:
        cmd += ["--pastml", args.pastml]
    if name == "realdata":
        cmd += ["--realdata", str(args.realdata)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"stage {name} failed (status {status})")
    return json.loads(out), usage.ru_maxrss / 1024 ** 2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", type=Path, help="where the snapshot and store go (default: temporary)")
    p.add_argument("--skip-naive", action="store_true", help="do not run the networkx comparison")
    p.add_argument("--pastml", default=os.environ.get("PHYLOHF_PASTML"),
                   help="Python of a venv with PastML: compare its MPPA/F81 with our marginal "
                        "(default: $PHYLOHF_PASTML; no comparison when unset)")
    p.add_argument("--realdata", type=Path, metavar="DIR",
                   help="a folder of seed CSV crawls: stage realdata ingests them all and runs the full "
                        "report on them (skipped without it)")
    p.add_argument("--only", metavar="STAGE[,STAGE]", help=f"run only these stages ({', '.join(STAGES)}); "
                   "stages after simulate and phylohf read their store")
    p.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = p.parse_args()
    only = args.only.split(",") if args.only else list(STAGES)
    if unknown := [s for s in only if s not in STAGES]:
        p.error(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    if args.stage:
        from phylohf.cli import _heap_for_temporaries, _one_blas_thread
        _one_blas_thread()                          # as the commands run
        _heap_for_temporaries()
        kwargs = ({"models": args.models, "seed": args.seed} if args.stage == "simulate"
                  else {"seed": args.seed} if args.stage in ("tree1m", "draw", "html", "rates", "deep")
                  else {"seed": args.seed, "pastml": args.pastml} if args.stage == "asr"
                  else {"realdata": args.realdata} if args.stage == "realdata" else {})
        print(json.dumps(STAGES[args.stage](work=args.workdir, **kwargs)))
        return
    _byte_compile()
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or Path(tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        print(f"phylohf benchmark: {args.models:,} simulated models, seed {args.seed}, "
              f"{os.cpu_count()} cores" + (f"; stages {', '.join(only)}" if args.only else ""))
        totals = {}
        for name in [s for s in STAGES if s in only and not (s == "naive" and args.skip_naive)]:
            if name == "realdata" and args.realdata is None:
                print("\n[realdata] skipped: give --realdata DIR (a folder of seed CSV crawls) to ingest "
                      "real data and run the full report on it")
                continue
            times, peak = run_stage(name, args)
            if name == "tree1m":
                tree1m = dict(times)
            info = times.pop("info", "")
            goals = times.pop("goals", [])
            if limit := times.pop("peak_goal", None):
                goals.append(f"peak RSS {peak:.2f} GB (goal < {limit:g} GB: {'met' if peak < limit else 'NOT met'})")
            totals[name] = sum(times.values())
            print(f"\n[{name}] {totals[name]:.2f} s, peak RSS {peak:.2f} GB" + (f"  ({info})" if info else ""))
            for step, sec in times.items():
                print(f"  {step:34s} {sec:8.2f} s")
            for goal in goals:
                print(f"  goal: {goal}")
        if "naive" in totals and "phylohf" in totals:
            print(f"\nnaive (networkx) {totals['naive']:.1f} s / phylohf (ingest + lineage + families + genomes) "
                  f"{totals['phylohf']:.1f} s: {totals['naive'] / totals['phylohf']:.1f}x")
        if "tree1m" in totals:
            reads = {k.split(": ")[1]: v for k, v in tree1m.items() if k.startswith("read it")}
            print("reading the 1M-node tree, time relative to phylohf: "
                  + ", ".join(f"{name} {sec / reads['phylohf']:.1f}x" for name, sec in reads.items()))


if __name__ == "__main__":
    main()
