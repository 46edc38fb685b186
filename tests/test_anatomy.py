"""Family anatomy on hand-built forests: distributions, hubs, Wiener index, growth."""
import json

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from forests import forest, random_tree
from phylohf.analyses.anatomy import anatomy, anatomy_report, growth, log2_histogram
from phylohf.genealogy.families import families
from phylohf.analyses.tails import power_law_tail
from phylohf.genealogy.lineage import Lineage

PARENT = [-1, 0, 0, 0, 1, 1, 4, -1, 7, -1]      # families {0..6}, {7, 8}, {9}


def test_log2_histogram_by_hand():
    assert log2_histogram(np.array([1, 2, 3, 4, 7, 8, 0])) == [
        {"from": 1, "to": 1, "count": 1}, {"from": 2, "to": 3, "count": 2},
        {"from": 4, "to": 7, "count": 2}, {"from": 8, "to": 15, "count": 1}]


def test_anatomy_by_hand():
    lin = forest(PARENT)
    a = anatomy(lin, families(lin), top=2)
    assert a["families"] == 3 and a["singletons"] == 1
    assert a["size"]["max"] == 7 and a["size"]["n"] == 2
    assert a["depth"]["family"]["counts"] == [0, 1, 0, 1]          # depths 3 and 1
    assert a["depth"]["node"] == [3, 4, 2, 1]
    assert [(h["model"], h["children"]) for h in a["hubs"]] == [("m000000", 3), ("m000001", 2)]
    assert a["out_degree"]["histogram"] == [{"from": 1, "to": 1, "count": 2}, {"from": 2, "to": 3, "count": 2}]
    assert a["relations"]["finetune"] == {"edges": 7, "share": 1.0}
    assert a["wiener"][0]["size"] == 7 and a["wiener"][1]["wiener"] == 1
    json.dumps(a)
    text = anatomy_report(a)
    assert "Largest hubs" in text and "m000000" in text and "What it means" in text
    assert a["out_degree"]["tail"]["verdict"] == "too few values" and "out-degree tail: too few values" in text


def test_tails_of_a_random_recursive_tree_are_not_power_laws():
    # out-degrees of a random recursive tree are geometric: the bootstrap or the lognormal rejects the law
    lin = forest(random_tree(3000, np.random.default_rng(0)))
    a = anatomy(lin, families(lin), top=1, replicates=50, seed=3)
    deg = lin.out_degree()
    t = a["out_degree"]["tail"]
    assert t == power_law_tail(deg[deg > 0], 50, 3) and t["replicates"] == 50
    assert t["verdict"] in ("not a power law", "lognormal fits better")
    line = next(l for l in anatomy_report(a).splitlines() if l.startswith("out-degree tail"))
    assert f"x_min {t['x_min']} or more" in line and f"p {t['gof_p']:.2f} (50 replicates)" in line
    assert line.endswith(t["verdict"]) and a["size"]["tail"]["verdict"] == "too few values"


def test_wiener_mean_distance_matches_all_pairs_shortest_paths():
    parent = random_tree(60, np.random.default_rng(5))
    lin = forest(parent)
    child = np.flatnonzero(parent >= 0)
    g = csr_matrix((np.ones(len(child)), (child, parent[child])), shape=(60, 60))
    d = shortest_path(g, directed=False, unweighted=True)
    a = anatomy(lin, families(lin), top=1)
    assert a["wiener"][0]["wiener"] == d.sum() / 2
    assert a["wiener"][0]["mean_distance"] == pytest.approx(d.sum() / 2 / (60 * 59 / 2))


def test_growth_counts_dated_members():
    n = 6
    day = 86_400
    created = np.array([0, 10, 20, 30, 40, 50]) * day
    parent = np.array([-1, 0, 0, 1, -1, 4])
    child = np.flatnonzero(parent >= 0)
    lin = Lineage.from_edges(np.array([f"m{i}" for i in range(n)], object), np.ones(n, bool), created,
                             child, parent[child], np.ones(len(child)), np.zeros(len(child)))
    g = growth(lin, families(lin), top=2, points=6)
    assert g[0]["dates"][0] == "1970-01-01" and g[0]["dates"][-1] == "1970-02-20"
    assert g[1] == {"root": "m0", "dated": 4, "first": "1970-01-01T00:00:00Z", "cumulative": [1, 2, 3, 4, 4, 4]}
    assert g[2]["cumulative"] == [0, 0, 0, 0, 1, 2]
