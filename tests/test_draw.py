"""Drawing families: selection and collapsing (brute force), labels, ete3 and matplotlib renders."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from PIL import Image

from forests import forest, hub_record, random_tree, simulated_store, store_of
from phylohf.export.draw import ViewExtraMissing, drawing, render, shorten
from phylohf.genealogy.genome import GROUPS, Genome
from phylohf.genealogy.lineage import NO_DATE, Lineage


def license_genome(licenses: list) -> Genome:
    """A genome with only a license group: one value (or None, undeclared) per node."""
    values = sorted({v for v in licenses if v is not None})
    rows = [i for i, v in enumerate(licenses) if v is not None]
    cols = [values.index(licenses[i]) for i in rows]
    m = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(len(licenses), len(values)))
    declared = np.zeros((len(licenses), len(GROUPS)), bool)
    declared[rows, GROUPS.index("license")] = True
    return Genome(m, np.zeros(len(values), np.int64), np.array(values, object), np.ones(len(values), np.int64),
                  declared)


def inherited(parent: np.ndarray, rng, states=("mit", "apache-2.0", "llama2", None), p=0.08) -> list:
    """Licenses copied down the tree (parents have smaller indices), changed with probability p."""
    lic = [None] * len(parent)
    lic[0] = states[0]
    for i in range(1, len(parent)):
        lic[i] = states[rng.integers(len(states))] if rng.random() < p else lic[parent[i]]
    return lic


def small_family():
    """base -> {ft-a (mit) -> {q1, q2 (mit)}, gone/parent (placeholder) -> merged (merge, apache)}."""
    ids = ["org/base", "org/ft-a", "org/q1", "org/q2", "gone/parent", "org/merged", "other/x"]
    lin = Lineage.from_edges(ids, np.array([1, 1, 1, 1, 0, 1, 1], bool), np.full(7, NO_DATE),
                             [1, 2, 3, 4, 5, 5], [0, 1, 1, 0, 4, 6], [1, 1, 1, 1, 1, 2], [0, 2, 2, 0, 3, 3])
    return lin, license_genome(["apache-2.0", "mit", "mit", "mit", None, "apache-2.0", "mit"])


def brute_uniform(parent: np.ndarray, value: list) -> np.ndarray:
    """Does every subtree hold one value? (explicit descendant sets, small trees only)"""
    n = len(parent)
    below = [{i} for i in range(n)]
    for v in sorted(range(n), key=lambda i: -depth_of(parent, i)):
        if parent[v] >= 0:
            below[parent[v]] |= below[v]
    return np.array([len({value[u] for u in below[v]}) == 1 for v in range(n)])


def depth_of(parent, v):
    d = 0
    while parent[v] >= 0:
        v, d = parent[v], d + 1
    return d


def test_small_family_drawing():
    lin, g = small_family()
    d = drawing(lin, g, 0)
    assert d.family_size == 6 and d.family_observed == 5 and d.family_depth == 2
    assert list(lin.ids[d.node]) == ["org/base", "org/ft-a", "org/q1", "org/q2", "gone/parent", "org/merged"]
    assert d.parent.tolist() == [-1, 0, 1, 1, 0, 4]                  # pre-order, parents first
    assert d.relation.tolist() == [None, "finetune", "quantized", "quantized", "finetune", "merge"]
    assert d.observed.tolist() == [True, True, True, True, False, True]
    assert d.merge_parents[5] == "other/x" and d.merge_parents[:5].tolist() == [None] * 5
    assert d.counts == {"mit": 3, "apache-2.0": 2, "?": 1}
    assert list(d.colors) == ["mit", "apache-2.0", "?"]
    assert d.title.startswith("org/base: 6 models (5 observed), depth 2")
    c = drawing(lin, g, 0, collapse_by="license")                   # ft-a's clade is all mit
    assert list(lin.ids[c.node]) == ["org/base", "org/ft-a", "gone/parent", "org/merged"]
    assert c.triangle.tolist() == [False, True, False, False]
    assert c.members.tolist() == [1, 3, 1, 1] and c.label[1] == "org/ft-a [3 models]"
    assert c.value[1] == "mit" and "1 clades whose 3 models share one license" in c.notes[0]


def test_errors():
    lin, g = small_family()
    with pytest.raises(ValueError, match="not a family root"):
        drawing(lin, g, 1)
    with pytest.raises(ValueError, match="unknown attribute"):
        drawing(lin, g, 0, color_by="colour")
    with pytest.raises(ValueError, match="must end in"):
        render(drawing(lin, g, 0), "x.gif")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trait_collapse_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    parent = random_tree(300, rng)
    lic = inherited(parent, rng)
    lin = forest(parent)
    d = drawing(lin, license_genome(lic), 0, collapse_by="license", max_nodes=10_000)
    key = ["?" if v is None else v for v in lic]
    uniform = brute_uniform(parent, key)
    drawn = set(d.node.tolist())
    # a node is hidden iff a strict ancestor below the root heads a uniform subtree
    hidden = [any(uniform[a] and parent[a] >= 0 for a in ancestors(parent, v)) for v in range(300)]
    assert drawn == {v for v in range(300) if not hidden[v]}
    assert d.members.sum() == 300                                   # counts preserved
    for i, v in enumerate(d.node.tolist()):
        assert d.triangle[i] == (v != 0 and uniform[v] and (lin.child_ptr[v + 1] > lin.child_ptr[v]))
        if d.triangle[i]:
            assert d.value[i] == key[v]


def ancestors(parent, v):
    out = []
    while parent[v] >= 0:
        v = parent[v]
        out.append(v)
    return out


@pytest.mark.parametrize("max_nodes,collapse", [(50, None), (200, None), (50, "license"), (400, "license")])
def test_max_nodes_collapse_keeps_counts(max_nodes, collapse):
    rng = np.random.default_rng(5)
    parent = random_tree(3000, rng)
    lin = forest(parent)
    d = drawing(lin, license_genome(inherited(parent, rng)), 0, collapse_by=collapse, max_nodes=max_nodes)
    assert d.members.sum() == 3000
    assert len(d) <= max_nodes and len(d) >= max_nodes // 4         # collapses no more than needed
    assert d.node[0] == 0 and (d.parent[1:] < np.arange(1, len(d))).all()
    assert any("to stay within" in n or "grouped" in n for n in d.notes)
    inner = np.zeros(len(d), bool)
    inner[d.parent[1:]] = True
    assert not (inner & d.triangle).any()                          # a triangle hides all below it


def test_deep_chain_is_collapsed_without_recursion():
    n = 5000
    lin = forest(np.r_[-1, np.arange(n - 1)])
    d = drawing(lin, license_genome(["mit"] * n), 0, max_nodes=2000)
    assert len(d) == 2000 and d.members.sum() == n and d.triangle[-1] and d.members[-1] == 3001


def test_labels_are_short_and_unique():
    stem = "organisation-with-a-long-name/model-" + "x" * 40
    ids = [stem + f"-variant-{k}-" + "y" * 30 for k in range(12)] + [stem + "-same-end", "z/short"]
    out = shorten(ids, width=30)
    assert len(set(out)) == len(ids)
    assert out[-1] == "z/short" and all("…" in s for s in out[:-1])
    assert all(len(s) < len(i) for s, i in zip(out[:-1], ids))


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(11)
    parent = random_tree(400, rng)
    lic = inherited(parent, rng, states=("mit", "apache-2.0", "llama2", "gemma", None), p=0.15)
    lin = forest(parent)
    return lin, license_genome(lic), lic


@pytest.mark.parametrize("engine", ["ete3", "matplotlib"])
def test_render_files_and_legend(tmp_path, big, engine):
    if engine == "ete3":
        pytest.importorskip("PyQt5")
    lin, g, lic = big
    d = drawing(lin, g, 0, collapse_by="license", max_nodes=150)
    present = {"?" if v is None else v for v in lic}
    assert set(d.colors) == present                             # every value present, hidden ones too
    for suffix, least in ((".png", 20_000), (".svg", 20_000), (".pdf", 5_000)):
        out = tmp_path / f"fam{suffix}"
        assert render(d, out, engine=engine) == engine
        assert out.stat().st_size > least
    svg = (tmp_path / "fam.svg").read_text(encoding="utf-8")
    for value in present:
        assert f"{value} (" in svg                                  # legend entries: "value (count)"
    for word in ("finetune", "adapter", "quantized", "merge", "collapsed"):
        assert word in svg
    img = np.asarray(Image.open(tmp_path / "fam.png").convert("RGB")).reshape(-1, 3)
    assert img.shape[0] > 400 * 400
    for value, color in d.colors.items():                           # each legend colour is drawn
        rgb = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)])
        assert (np.abs(img.astype(int) - rgb).sum(axis=1) < 30).sum() > 20, value


def test_circular_layout(tmp_path, big):
    lin, g, _ = big
    d = drawing(lin, g, 0)
    for engine in ("matplotlib", "ete3"):
        out = tmp_path / f"circ-{engine}.png"
        render(d, out, layout="circular", engine=engine)
        w, h = Image.open(out).size
        assert 0.8 < w / h < 1.25                                    # round, not a tall column


def test_without_pyqt5_falls_back_to_matplotlib(tmp_path, big, monkeypatch):
    lin, g, _ = big
    monkeypatch.setitem(sys.modules, "PyQt5", None)                 # `import PyQt5` now fails
    d = drawing(lin, g, 0, max_nodes=100)
    with pytest.warns(ViewExtraMissing, match=r"phylohf\[view\]"):
        assert render(d, tmp_path / "fallback.png") == "matplotlib"
    assert Image.open(tmp_path / "fallback.png").size[0] >= 1000
    with pytest.raises(ValueError, match="PyQt5"):
        render(d, tmp_path / "x.png", engine="ete3")


def test_large_family_is_quick(tmp_path):
    rng = np.random.default_rng(3)
    parent = random_tree(20_000, rng)
    lin = forest(parent)
    g = license_genome(inherited(parent, rng, p=0.02))
    t = time.perf_counter()
    d = drawing(lin, g, 0, collapse_by="license", max_nodes=500)
    render(d, tmp_path / "big.png", engine="matplotlib")
    assert time.perf_counter() - t < 15
    assert d.members.sum() == 20_000 and len(d) <= 500


def test_cli_draw_and_view(tmp_path, capsys, monkeypatch):
    from phylohf.cli import main
    store = str(simulated_store(tmp_path, 1500, seed=3))
    out = tmp_path / "fam.png"
    assert main(["draw", "--store", store, "--out", str(out), "--collapse-by",
                 "license", "--engine", "matplotlib"]) == 0
    assert out.stat().st_size > 10_000 and "with matplotlib" in capsys.readouterr().out
    assert main(["draw", "--store", store, "--family", "no/such", "--out", str(out)]) == 1
    assert "no model 'no/such'" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", "--store", store]) == 1
    assert "no display" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["ete3", "matplotlib"])
def test_placeholders_merges_and_triangles_are_drawn(tmp_path, engine):
    if engine == "ete3":
        pytest.importorskip("PyQt5")
    lin, g = small_family()
    for collapse in (None, "license"):
        out = tmp_path / f"small-{collapse}.svg"
        render(drawing(lin, g, 0, collapse_by=collapse), out, engine=engine)
        svg = out.read_text(encoding="utf-8")
        assert "placeholder (absent parent)" in svg and "merge of other/x" in svg
        assert ("org/ft-a [3 models]" in svg) == (collapse is not None)


def test_demo_draws_its_largest_family(tmp_path):
    from phylohf.cli import main
    assert main(["-q", "demo", "--models", "1500", "--seed", "4", "--trees", str(tmp_path / "trees")]) == 0
    png = tmp_path / "trees" / "largest-family.png"
    assert Image.open(png).size[0] >= 1000 and png.stat().st_size > 20_000


WITHOUT_VIEW = """
import sys
sys.modules["matplotlib"] = None; sys.modules["PyQt5"] = None       # `import ...` now fails
from phylohf.cli import main
print([main(args) for args in {calls!r}])
"""


def test_without_the_view_extra_commands_say_so_and_exit_1(tmp_path):
    # in a fresh interpreter, where neither matplotlib nor PyQt5 can be imported
    store = str(store_of(tmp_path, [hub_record("a/base", "mit"), hub_record("b/ft", "apache-2.0", "a/base")]))
    calls = [["draw", "--store", store, "--out", str(tmp_path / "f.png")],
             ["draw", "--store", store, "--out", str(tmp_path / "f.png"), "--engine", "matplotlib"],
             ["draw", "--store", store, "--out", str(tmp_path / "f.png"), "--engine", "ete3"],
             ["report", "--store", store, "--figures", str(tmp_path / "figs"), "--null", "3"]]
    run = subprocess.run([sys.executable, "-c", WITHOUT_VIEW.format(calls=calls)], capture_output=True,
                         text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert run.stdout.splitlines()[-1] == "[1, 1, 1, 1]"
    err = run.stderr.splitlines()
    assert err[:4] == [
        'phylohf draw: error: drawing without PyQt5 (ete3\'s renderer) needs matplotlib, which is not '
        'installed: pip install "phylohf[view]"',
        'phylohf draw: error: --engine matplotlib needs matplotlib, which is not installed: '
        'pip install "phylohf[view]"',
        'phylohf draw: error: ete3\'s renderer needs PyQt5, which is not installed: pip install '
        '"phylohf[view]" (or use --engine matplotlib)',
        'phylohf report: error: report --figures needs matplotlib, which is not installed: '
        'pip install "phylohf[view]"']
    assert not (tmp_path / "figs").exists()                         # refused before the analyses
