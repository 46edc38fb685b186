"""The explorer page's data and HTML (no browser: tests/test_html_browser.py opens the pages)."""
import html
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from forests import random_tree, simulated_store
from test_draw import brute_uniform, inherited, license_genome, small_family
from phylohf.export.draw import _text
from phylohf.export.explorer import family_data, page, script_json
from phylohf.export.trees import node_attributes
from phylohf.genealogy.lineage import NO_DATE, Lineage

HOSTILE = ['a"b', "x'y", "</script><script>window.pwned=1</script>", '<img src=x onerror="window.pwned=1">',
           "&amp;&lt;", "ünï/cødé 🤗", "{{js}}", "line\u2028sep\u2029x", "back\\slash", "-->", "<!--"]


def decoded(data: dict, name: str) -> list[str]:
    a = data["attributes"][name]
    return [a["values"][c] for c in a["code"]]


def test_script_json_cannot_close_the_script_and_round_trips():
    text = script_json({"ids": HOSTILE})
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"ids": HOSTILE}


def test_small_family_data_is_the_export_in_pre_order():
    lin, g = small_family()
    d = family_data(lin, g, 0)
    assert d["ids"] == ["org/base", "org/ft-a", "org/q1", "org/q2", "gone/parent", "org/merged"]
    assert d["parent"] == [-1, 0, 1, 1, 0, 4] and d["observed"] == [1, 1, 1, 1, 0, 1]
    nodes = np.array([lin.ids.tolist().index(i) for i in d["ids"]])
    attrs = node_attributes(lin, g, nodes)
    for name, values in attrs.items():                 # every NHX attribute, decoded back
        assert decoded(d, name) == _text(values[nodes]).tolist(), name
    assert decoded(d, "license") == ["apache-2.0", "mit", "mit", "mit", "?", "apache-2.0"]
    assert decoded(d, "relation") == ["?", "finetune", "quantized", "quantized", "finetune", "merge"]
    assert d["merges"] == [[5, ["other/x"]]]
    assert d["collapsed"] == [] and d["created"] == [None] * 6
    colours = d["attributes"]["license"]
    assert colours["legend"][0][:1] == ["mit"] and colours["legend"][0][2] == 3   # most frequent first


def test_only_family_roots():
    lin, g = small_family()
    with pytest.raises(ValueError, match="'gone/parent' is not a family root; its family is 'org/base'"):
        family_data(lin, g, 4)


def visible(parent: list[int], collapsed: list[int]) -> np.ndarray:
    """The page's rule: a node shows when its parent shows and is not collapsed."""
    shown = np.ones(len(parent), bool)
    c = np.zeros(len(parent), bool)
    c[collapsed] = True
    for i in range(1, len(parent)):
        shown[i] = shown[parent[i]] and not c[parent[i]]
    return shown


def test_big_family_starts_with_its_uniform_clades_collapsed():
    rng = np.random.default_rng(3)
    parent = random_tree(400, rng)
    lic = inherited(parent, rng, states=("mit", "apache-2.0", "llama2"), p=0.05)
    child = np.flatnonzero(parent >= 0)
    lin = Lineage.from_edges(np.array([f"o/m{i:04d}" for i in range(400)], object), np.ones(400, bool),
                             np.full(400, NO_DATE), child, parent[child], np.ones(len(child)), np.zeros(len(child)))
    g = license_genome(lic)
    assert family_data(lin, g, 0, max_nodes=400)["collapsed"] == []
    d = family_data(lin, g, 0, max_nodes=399)           # uniform clades alone fit: exactly their tops
    par = np.array(d["parent"])
    uni = brute_uniform(par, decoded(d, "license"))
    below = np.ones(400, np.int64)
    for i in range(399, 0, -1):
        below[par[i]] += below[i]
    inside = np.r_[False, uni[par[1:]] & (par[1:] > 0)]
    tops = np.flatnonzero(uni & (below > 1) & ~inside & (par >= 0))
    assert d["collapsed"] == tops.tolist() and len(tops) and d["folded"] == []
    assert visible(d["parent"], d["collapsed"]).sum() <= 399
    small = family_data(lin, g, 0, max_nodes=60)        # then small clades, then grouped siblings
    assert all(below[i] > 1 for i in small["collapsed"]) and small["folded"]     # siblings grouped too
    assert visible(small["parent"], small["collapsed"]).sum() < visible(d["parent"], d["collapsed"]).sum()


def test_page_is_self_contained_and_escapes_its_title():
    lin, g = small_family()
    d = family_data(lin, g, 0)
    d["root"] = HOSTILE[2]
    text = page(d)
    assert "<title>" + html.escape(f"{HOSTILE[2]}: 6 models (phylohf)") + "</title>" in text
    assert text.count("<script") == 3 and text.count("</script>") == 3      # data, d3, explorer
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched at view time
    assert "{{" not in text.split('<script id="phylohf-data"')[0]


def run(*args):
    return subprocess.run([sys.executable, "-m", "phylohf", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return simulated_store(tmp_path_factory.mktemp("html"), 1500, seed=5)


def test_html_command(store, tmp_path):
    out = tmp_path / "f.html"
    r = run("html", "--store", str(store), "--out", str(out), "--asr", "license", "--max-nodes", "20")
    assert r.returncode == 0, r.stderr
    assert "models of" in r.stdout and "clades collapsed" in r.stdout
    text = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="phylohf-data" type="application/json">(.*?)</script>', text, re.S)[1])
    k = len(data["asr"]["states"])
    post = np.array(data["asr"]["posterior"]).reshape(-1, k)
    assert post.shape[0] == len(data["ids"]) and np.all(np.abs(post.sum(1) - 1000) <= k)
    assert data["collapsed"] and any(d is not None for d in data["downloads"])


def test_html_errors_and_help(store, tmp_path):
    r = run("html", "--store", str(store), "--family", "no/such-model", "--out", str(tmp_path / "x.html"))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "'no/such-model'" in r.stderr and "phylohf families" in r.stderr
    assert not (tmp_path / "x.html").exists()
    assert run("html", "--store", str(store), "--out", str(tmp_path / "x.html"), "--max-nodes", "1").returncode == 2
    assert run("html", "--store", str(store), "--out", str(tmp_path / "nodir" / "x.html")).returncode == 1
    h = run("html", "--help")
    assert h.returncode == 0 and "--asr" in h.stdout and "--max-nodes" in h.stdout and "offline" in h.stdout


def test_report_html(store, tmp_path):
    out = tmp_path / "report.html"
    r = run("report", "--store", str(store), "--html", str(out), "--bootstrap", "20", "--null", "0",
            "--out", str(tmp_path / "r.txt"))
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    report = (tmp_path / "r.txt").read_text(encoding="utf-8")
    for title in re.findall(r"^\d+\. (.+)\n-+$", report, re.M):
        assert f". {html.escape(title)}</h2>" in text
    assert text.count("data:image/png;base64,") >= 3
    frame = html.unescape(re.search(r'srcdoc="([^"]*)"', text)[1])
    assert frame.startswith("<!DOCTYPE html>") and '"root":' in frame
    section = re.search(r'<section id="anatomy">.*?<pre>(.*?)</pre>', text, re.S)[1]
    assert html.unescape(section) in report                                  # the text report's own words
