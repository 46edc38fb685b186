"""Lineage arrays and family statistics on hand-built forests, closed forms and brute force."""
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from phylohf.genealogy.families import families, wiener_index
from phylohf.genealogy.lineage import NO_DATE, Lineage
from phylohf.store.database import Store


def forest(parent: list[int], created=None, extra=()) -> Lineage:
    """A lineage from a parent list (-1 for roots) plus (child, parent) merge edges."""
    n = len(parent)
    child = [c for c, p in enumerate(parent) if p >= 0] + [c for c, _ in extra]
    par = [p for p in parent if p >= 0] + [p for _, p in extra]
    pos = [1] * (len(child) - len(extra)) + [2] * len(extra)
    rel = [0] * (len(child) - len(extra)) + [3] * len(extra)      # finetune, merge
    return Lineage.from_edges([f"m{i:06d}" for i in range(n)], np.ones(n, bool),
                              created if created is not None else np.full(n, NO_DATE),
                              child, par, pos, rel)


def test_small_forest_arrays():
    #      0          5
    #    / | \        |
    #   1  2  3       6
    #      |
    #      4
    lin = forest([-1, 0, 0, 0, 2, -1, 5])
    assert lin.root.tolist() == [0, 0, 0, 0, 0, 5, 5]
    assert lin.depth.tolist() == [0, 1, 1, 1, 2, 0, 1]
    assert lin.children(0).tolist() == [1, 2, 3] and lin.children(2).tolist() == [4]
    assert lin.children(4).tolist() == []
    assert lin.subtree_sizes().tolist() == [5, 1, 2, 1, 1, 2, 1]
    fams = families(lin)
    assert fams.root.tolist() == [0, 5]
    assert fams.size.tolist() == [5, 2] and fams.depth.tolist() == [2, 1]
    assert fams.max_children.tolist() == [3, 1]
    # family 0: pairs at distance 1: 4 edges; 2: (1,2),(1,3),(2,3),(0,4); 3: (1,4),(3,4)
    assert fams.wiener.tolist() == [4 + 2 * 4 + 3 * 2, 1]


def test_merge_edges_are_reticulations_not_tree_edges():
    lin = forest([-1, -1, 0], extra=[(2, 1)])
    assert lin.parent.tolist() == [-1, -1, 0]
    assert lin.extra_child.tolist() == [2] and lin.extra_parent.tolist() == [1]
    assert lin.edge_count() == {"finetune": 1, "adapter": 0, "quantized": 0, "merge": 1}
    fams = families(lin)
    assert fams.relations[0].tolist() == [1, 0, 0, 1] and fams.relations[1].tolist() == [0, 0, 0, 0]


def test_cycles_are_cut_at_the_earliest_created_member():
    # 0 -> 1 -> 2 -> 0 is a cycle (each points at its parent), 3 hangs below 2, 4 is a self loop
    created = np.array([300, 100, 200, 50, NO_DATE])
    lin = forest([2, 0, 1, 2, 4], created=created)
    assert lin.cut.tolist() == [1, 4]              # node 1 is the oldest in its cycle
    assert lin.parent.tolist() == [2, -1, 1, 2, -1]
    assert lin.root.tolist() == [1, 1, 1, 1, 4]
    assert lin.depth.tolist() == [2, 0, 1, 2, 0]
    assert lin.relation[1] == -1


def test_cycle_without_dates_cuts_the_smallest_id():
    lin = forest([1, 0])
    assert lin.cut.tolist() == [0] and lin.root.tolist() == [0, 0]


def test_deep_chain_closed_forms():
    n = 100_000
    lin = forest([-1] + list(range(n - 1)))
    assert lin.depth[-1] == n - 1 and (lin.root == 0).all()
    assert lin.subtree_sizes()[0] == n and lin.subtree_sizes()[-1] == 1
    fams = families(lin)
    assert fams.depth[0] == n - 1
    assert fams.wiener[0] == n * (n * n - 1) // 6      # Wiener index of a path P_n


def test_star_closed_form():
    n = 5001
    fams = families(forest([-1] + [0] * (n - 1)))
    assert fams.wiener[0] == (n - 1) ** 2 and fams.max_children[0] == n - 1


@pytest.mark.parametrize("seed", range(6))
def test_wiener_index_against_all_pairs_shortest_paths(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    parent = [-1] + [int(rng.integers(0, i)) if rng.random() < 0.85 else -1 for i in range(1, n)]
    lin = forest(parent)
    child = np.flatnonzero(lin.parent >= 0)
    adj = csr_matrix((np.ones(len(child)), (child, lin.parent[child])), shape=(n, n))
    dist = shortest_path(adj, directed=False, unweighted=True)
    w = wiener_index(lin)
    for r in np.flatnonzero(lin.parent < 0):
        members = np.flatnonzero(lin.root == r)
        assert w[r] == dist[np.ix_(members, members)].sum() / 2


def test_families_are_sorted_and_dated():
    created = np.array([10, 20, 30, NO_DATE, 5])
    fams = families(forest([-1, 0, 0, -1, 3], created=created))
    assert fams.root.tolist() == [0, 3]
    assert fams.first_created.tolist() == [10, 5] and fams.last_created.tolist() == [30, 5]


def test_lineage_index_resolves_ids_without_regard_to_case(tmp_path):
    # parents as an older store may hold them: spelled in other cases, repeated, the model itself
    parents = {"org/Base": [], "c/two": [("Gone/model", "finetune")],
               "c/one": [("ORG/base", "finetune"), ("gone/Model", "merge")],
               "c/three": [("C/THREE", "merge"), ("org/base", "merge"), ("org/Base", "merge")]}
    with Store(tmp_path / "s.duckdb") as s:
        for model, ps in parents.items():
            s.con.execute("INSERT INTO models (id, parents, fixes) VALUES (?, ?::STRUCT(id VARCHAR, relation VARCHAR)[], [])",
                          [model, [{"id": p, "relation": r} for p, r in ps]])
        s.index_lineage()
        lin = Lineage.from_store(s)
        by_case = s.con.execute("SELECT child, parent, pos, by_case FROM lineage_edges ORDER BY child, pos").fetchall()
        fixes = s.fix_counts()
    # models by id, then one placeholder for both spellings of the absent parent (the smallest)
    assert lin.ids.tolist() == ["c/one", "c/three", "c/two", "org/Base", "Gone/model"]
    assert lin.observed.tolist() == [True, True, True, True, False]
    assert lin.parent.tolist() == [3, 3, 4, -1, -1]
    assert lin.relation.tolist() == [0, 3, 0, -1, -1]        # c/three: its first edge left is a merge edge
    assert lin.extra_child.tolist() == [0] and lin.extra_parent.tolist() == [4]
    assert by_case == [(0, 3, 1, True), (0, 4, 2, True), (1, 3, 1, True), (2, 4, 1, False)]
    assert fixes == {"case_parent": 2}
    with Store(tmp_path / "s.duckdb") as s:                     # an index written by an older phylohf
        s.con.execute("ALTER TABLE lineage_edges DROP COLUMN by_case")
    with Store(tmp_path / "s.duckdb", read_only=True) as s:     # is rebuilt, for a reader as temporary tables
        assert s.fix_counts() == fixes and Lineage.from_store(s).parent.tolist() == lin.parent.tolist()
