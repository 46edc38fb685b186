"""Extended Newick: exact strings for hand-built networks, what is left out and why, reading
foreign eNewick, and round trips (with a networkx check of the DAG) on random networks."""
import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phylohf.export.enewick import STATUS, enewick_forest, read_enewick, reticulations
from phylohf.export.newick import quote_label
from phylohf.genealogy.lineage import NO_DATE, Lineage


def network(parent, extra=(), ids=None, observed=None) -> Lineage:
    """A lineage from a parent list (-1 for roots) plus (child, further parent) merge edges."""
    n = len(parent)
    child = [c for c, p in enumerate(parent) if p >= 0] + [c for c, _ in extra]
    par = [p for p in parent if p >= 0] + [p for _, p in extra]
    pos = [1] * (len(child) - len(extra)) + [2] * len(extra)
    rel = [0] * (len(child) - len(extra)) + [3] * len(extra)
    obs = np.ones(n, bool) if observed is None else np.asarray(observed, bool)
    return Lineage.from_edges(ids or [f"m{i}" for i in range(n)], obs, np.full(n, NO_DATE),
                              child, par, pos, rel)


def written(lin, **kw) -> dict[int, str]:
    return dict(enewick_forest(lin, **kw))


#      0          5
#     / \
#    1   2        3 is a merge of 1 (primary) and 2; 4 is 3's child
#    |
#    3
#    |
#    4
TWO = [-1, 0, 0, 1, 3, -1]


# -- exact strings ----------------------------------------------------------------------------
def test_merge_with_two_parents():
    lin = network(TWO, extra=[(3, 2)])
    assert written(lin) == {0: "(((m4)m3#H1)m1,(m3#H1)m2)m0;", 5: "m5;"}
    lengths = np.array([np.nan, 1, 2, 3, 4, np.nan])
    assert (written(lin, lengths=lengths, extra_lengths=[7.5])[0]
            == "(((m4:4)m3#H1:3)m1:1,(m3#H1:7.5)m2:2)m0;")
    assert written(lin, lengths=lengths)[0] == "(((m4:4)m3#H1:3)m1:1,(m3#H1)m2:2)m0;"  # unknown
    # sampled ancestors: 2 had no children and now has one, so it is sampled too
    assert (written(lin, lengths=lengths, extra_lengths=[7.5], ancestors="tips")[0]
            == "(m0:0,(m1:0,(m3:0,m4:4)m3#H1:3)m1:1,(m2:0,m3#H1:7.5)m2:2)m0;")
    lin = network(TWO, extra=[(3, 2)], observed=[1, 1, 0, 1, 1, 1])   # 2 is a placeholder
    attrs = {"observed": lin.observed.astype(np.int64)}
    assert (written(lin, attributes=attrs, ancestors="tips")[0]
            == "(m0[&&NHX:observed=1],(m1[&&NHX:observed=1],(m3[&&NHX:observed=1],m4[&&NHX:observed=1])"
               "m3#H1[&&NHX:observed=1])m1[&&NHX:observed=1],(m3#H1)m2[&&NHX:observed=0])"
               "m0[&&NHX:observed=1];")
    assert reticulations(lin).counts() == {"drawn": 1, "other_family": 0, "duplicate": 0, "cycle": 0}


def test_merge_with_three_parents_and_numbering():
    #      0
    #    / | \            4 merges 1 (primary), 2 and 3; 5 merges 2 (primary) and 3
    #   1  2  3
    #   |  |
    #   4  5
    lin = network([-1, 0, 0, 0, 1, 2], extra=[(4, 3), (4, 2), (5, 3)])
    assert written(lin)[0] == "((m4#H1)m1,(m5#H2,m4#H1)m2,(m4#H1,m5#H2)m3)m0;"
    assert reticulations(lin).hybrid.tolist() == [1, 1, 2]       # edges in (child, parent) pre-order
    assert reticulations(lin).parent.tolist() == [2, 3, 3]


def test_parent_in_another_family_is_left_out():
    lin = network(TWO, extra=[(3, 5), (4, 2)])
    assert written(lin) == {0: "(((m4#H1)m3)m1,(m4#H1)m2)m0;", 5: "m5;"}
    r = reticulations(lin)
    assert r.counts() == {"drawn": 1, "other_family": 1, "duplicate": 0, "cycle": 0}
    assert [STATUS[s] for s in r.status] == ["other_family", "drawn"]
    assert reticulations(lin, roots=[5]).counts()["drawn"] == 0   # edges go with the child's family


def test_cycles_and_duplicates_are_left_out():
    # the further parent 4 of 3 descends from 3; 1 -> 3 repeats the primary edge; (3, 2) twice
    lin = network(TWO, extra=[(3, 4), (3, 1), (3, 2), (3, 2), (3, 3)])
    assert written(lin)[0] == "(((m4)m3#H1)m1,(m3#H1)m2)m0;"
    assert reticulations(lin).counts() == {"drawn": 1, "other_family": 0, "duplicate": 2, "cycle": 2}


def test_cycle_through_two_reticulations():
    #      0             1 merges 0 and 4; 2 merges 0 and 3: 4 -> 1 -> 3 -> 2 -> 4
    #     / \            the first in pre-order of the child (1, from 4) is kept
    #    1   2
    #    |   |
    #    3   4
    lin = network([-1, 0, 0, 1, 2], extra=[(1, 4), (2, 3)])
    assert written(lin)[0] == "((m3)m1#H1,((m1#H1)m4)m2)m0;"
    r = reticulations(lin)
    assert [STATUS[s] for s in r.status] == ["drawn", "cycle"]


@pytest.mark.parametrize("label,text", [
    ("org/x_y", "'org/x_y'#H1"),
    ("it's", "'it''s'#H1"),
    ("a#b", "'a#b'#H1"),                                       # a bare '#' always starts a suffix
    ("org/m-1.5", "org/m-1.5#H1"),
])
def test_hybrid_labels(label, text):
    lin = network([-1, 0, 0], extra=[(2, 1)], ids=["r", "p", label])
    assert written(lin)[0] == f"(({text})p,{text})r;"
    back = read_enewick(written(lin)[0])
    assert back.names.tolist() == [label, "p", "r"] and back.hybrid.tolist() == [1, 0, 0]


def test_labels_with_hash_are_quoted_everywhere():
    assert quote_label("x#1") == "'x#1'" and quote_label("a b") == "'a b'"
    lin = network([-1, 0], ids=["r#H1", "c#H2"], observed=[1, 1])
    s = written(lin, ancestors="tips")[0]
    assert s == "('r#H1','c#H2')'r#H1';"
    assert read_enewick(s).hybrid.tolist() == [0, 0, 0]


# -- reading ----------------------------------------------------------------------------------
def test_read_foreign_enewick():
    # Cardona et al.: the leaf occurrence may be unlabelled; bare underscores are blanks
    net = read_enewick("((a,(b_1)x#H1:2),(#H1:0.5,c)y)r;")
    assert net.names.tolist() == ["a", "b 1", "x", "", "c", "y", "r"]
    assert net.parent.tolist() == [3, 2, 3, 6, 5, 6, -1]
    assert net.hybrid.tolist() == [0, 0, 1, 0, 0, 0, 0] and net.length[2] == 2
    assert net.hybrid_child.tolist() == [2] and net.hybrid_parent.tolist() == [5]
    assert net.hybrid_length.tolist() == [0.5]
    assert read_enewick("(('a b'#H1)p,'a b'#H1)r;").names.tolist() == ["a b", "p", "r"]


def test_read_picks_the_full_occurrence():
    # no children anywhere: the occurrence with NHX is the full one, else the first in the text
    net = read_enewick("((x#H1)p,x#H1[&&NHX:k=v])r;")
    assert net.parent.tolist() == [2, 2, -1] and net.names.tolist() == ["p", "x", "r"]
    assert net.attributes["k"].tolist() == [None, "v", None]
    assert net.names[net.hybrid_parent].tolist() == ["p"]
    net = read_enewick("((x#H1)p,x#H1)r;")
    assert net.names[net.parent[net.names.tolist().index("x")]] == "p"
    with pytest.raises(ValueError, match="two occurrences with children"):
        read_enewick("((a)x#H1,(b)x#H1)r;")
    with pytest.raises(ValueError, match="two #H suffixes"):
        read_enewick("('x'#H1 #H2)r;")


# -- round trips on random networks -----------------------------------------------------------
# every character some reader treats specially (see tests/test_newick.py), '#' and 'H1' of the suffix
HOSTILE = st.text(alphabet="ab_ '#:,()[]{}=\\\r\n\0\tH1;\"é中", min_size=1, max_size=6)


@st.composite
def networks(draw):
    n = draw(st.integers(1, 25))
    parent = [draw(st.integers(-1, i - 1)) if i else -1 for i in range(n)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    ids = draw(st.lists(HOSTILE, min_size=n, max_size=n, unique=True))
    return network(parent, extra=extra, ids=ids), draw(st.booleans())


def expected_edges(lin, root) -> tuple[set, set]:
    """(tree edges, drawn reticulation edges) of a family, as (parent id, child id)."""
    fam = np.flatnonzero(lin.root == root)
    tree = {(lin.ids[lin.parent[v]], lin.ids[v]) for v in fam if lin.parent[v] >= 0}
    r = reticulations(lin, [root])
    drawn = r.status == STATUS.index("drawn")
    return tree, {(lin.ids[p], lin.ids[c]) for c, p in zip(r.child[drawn], r.parent[drawn])}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(case=networks())
def test_round_trip(tmp_path, case):
    lin, with_attributes = case
    rng = np.random.default_rng(lin.n)
    lengths = rng.integers(0, 5, lin.n) / 4
    extra_lengths = rng.integers(0, 5, len(lin.extra_child)) / 4
    attrs = {"observed": np.ones(lin.n, np.int64)} if with_attributes else None
    for root, text in enewick_forest(lin, lengths=lengths, extra_lengths=extra_lengths, attributes=attrs):
        path = tmp_path / "n.enwk"                     # the README's call: newline="" keeps CR LF
        path.write_text(text, encoding="utf-8", newline="")
        net = read_enewick(open(path, encoding="utf-8", newline="").read(), preserve_underscores=True)
        tree, hybrid = expected_edges(lin, root)
        names = net.names
        assert sorted(names.tolist()) == sorted(lin.ids[lin.root == root].tolist())
        got_tree = {(names[p], names[c]) for c, p in enumerate(net.parent) if p >= 0}
        got_hybrid = {(names[p], names[c]) for c, p in zip(net.hybrid_child, net.hybrid_parent)}
        index = lin.index()
        if with_attributes:           # the full occurrence of a childless merge is the one with NHX
            assert got_tree == tree and got_hybrid == hybrid
            assert all(net.length[v] == lengths[index[names[v]]] or net.parent[v] < 0 for v in range(net.n))
        else:
            assert got_tree | got_hybrid == tree | hybrid and not got_tree & got_hybrid
        assert len(net.hybrid_child) == len(hybrid)
        assert (net.hybrid[net.hybrid_child] > 0).all()
        # networkx: the DAG of the edges read is the family's primary + drawn extra edges; it is
        # acyclic, and each extra edge left out as a cycle would close one
        dag = nx.DiGraph(list(got_tree | got_hybrid))
        dag.add_nodes_from(names.tolist())
        assert nx.is_directed_acyclic_graph(dag)
        r = reticulations(lin, [root])
        for c, p, s in zip(r.child, r.parent, r.status):
            if STATUS[s] == "cycle":
                assert p == c or nx.has_path(dag, lin.ids[c], lin.ids[p])
            elif STATUS[s] == "duplicate":           # of the primary edge or of an earlier one
                same = [t for c2, p2, t in zip(r.child, r.parent, r.status) if (c2, p2) == (c, p)]
                assert lin.parent[c] == p or STATUS[same[0]] != "duplicate"
            elif STATUS[s] == "other_family":
                assert lin.root[p] != root
        if with_attributes:
            drawn = r.status == STATUS.index("drawn")
            want = {(lin.ids[p], lin.ids[c]): extra_lengths[e]
                    for e, c, p in zip(r.edge[drawn], r.child[drawn], r.parent[drawn])}
            assert {(names[p], names[c]): x
                    for c, p, x in zip(net.hybrid_child, net.hybrid_parent, net.hybrid_length)} == want
