"""Newick/NHX writer and reader: exact small cases, deep chains, and round trips through
our reader, ete3, dendropy and Bio.Phylo on random forests with hostile model ids."""
import warnings

import dendropy
import numpy as np
import pytest
from Bio import Phylo
from ete3 import Tree
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from phylohf.export import read_newick, read_newick_trees, write_forest, write_newick
from phylohf.export.newick import decode_nhx_value, format_length, quote_label
from phylohf.genealogy.lineage import NO_DATE, Lineage


def lineage(parent, ids=None, observed=None) -> Lineage:
    """A lineage from a parent list (-1 for roots), ids m0, m1, ... unless given."""
    n = len(parent)
    child = [c for c, p in enumerate(parent) if p >= 0]
    par = [parent[c] for c in child]
    ids = ids if ids is not None else [f"m{i}" for i in range(n)]
    obs = np.ones(n, bool) if observed is None else np.asarray(observed, bool)
    return Lineage.from_edges(ids, obs, np.full(n, NO_DATE), child, par, [1] * len(child), [0] * len(child))


#      0          5
#    / | \        |
#   1  2  3       6
#      |
#      4
SMALL = [-1, 0, 0, 0, 2, -1, 5]


# -- exact strings ---------------------------------------------------------------------------
def test_small_tree_exact():
    lin = lineage(SMALL)
    assert write_newick(lin, 0) == "(m1,(m4)m2,m3)m0;"
    assert write_newick(lin, 2) == "(m4)m2;"                     # a subtree: no comma, no length
    assert write_newick(lin, 4) == "m4;"
    lengths = np.array([9, 1, 0.5, 12.25, 2, 9, 1e-7])
    assert write_newick(lin, 0, lengths=lengths) == "(m1:1,(m4:2)m2:0.5,m3:12.25)m0;"
    assert write_newick(lin, 2, lengths=lengths) == "(m4:2)m2;"
    assert write_newick(lin, 5, lengths=lengths) == "(m6:1e-07)m5;"
    lengths[1] = np.nan                                           # unknown: omitted
    assert write_newick(lin, 0, lengths=lengths) == "(m1,(m4:2)m2:0.5,m3:12.25)m0;"


def test_sampled_ancestors():
    lin = lineage(SMALL, observed=[1, 1, 1, 1, 1, 0, 1])         # 5 is a placeholder
    assert write_newick(lin, 0, ancestors="tips") == "(m0,m1,(m2,m4)m2,m3)m0;"
    assert write_newick(lin, 5, ancestors="tips") == "(m6)m5;"   # placeholders are not sampled
    assert (write_newick(lin, 0, ancestors="tips", lengths=np.ones(7))
            == "(m0:0,m1:1,(m2:0,m4:1)m2:1,m3:1)m0;")
    with pytest.raises(ValueError):
        write_newick(lin, 0, ancestors="leaves")


@pytest.mark.parametrize("label,text", [
    ("org/model-1.5", "org/model-1.5"),
    ("a/b-c.d:e", "'a/b-c.d:e'"),                                # ':' needs quotes
    ("it's", "'it''s'"),
    ("a b", "'a b'"),
    ("x_y", "'x_y'"),                                            # bare '_' would read as a blank
    ("[x]", "'[x]'"),
    ("a,b", "'a,b'"),
    ("a;b", "'a;b'"),
    ("f(x)", "'f(x)'"),
    ("tab\there", "'tab\there'"),
    ("modèle/中文-🙂", "modèle/中文-🙂"),
    ("''", "''''''"),
    ('say "hi"', "'say \"hi\"'"),                           # ete3 reads '"' as a quote
    ("a{b}=c", "'a{b}=c'"),                                      # dendropy splits bare labels there
    ("a\\b", "'a\\b'"),
    ("a\r\nb\0", "'a\r\nb\0'"),
])
def test_quoting(label, text):
    assert quote_label(label) == text
    lin = lineage([-1, 0], ids=[label, "b"])
    s = write_newick(lin, 0)
    assert s == f"(b){text};"
    assert read_newick(s).names.tolist() == ["b", label]


def test_format_length():
    assert [format_length(x) for x in (1, 0.5, 12.25, 0.1 + 0.2, 1e16, 3e-300)] == \
        ["1", "0.5", "12.25", "0.30000000000000004", "1e+16", "3e-300"]
    lin = lineage([-1, 0])
    with pytest.raises(ValueError):
        write_newick(lin, 0, lengths=[0, np.inf])
    with pytest.raises(ValueError):
        write_newick(lin, 0, lengths=[0, 1, 2])


def test_nhx_exact_and_escaped():
    lin = lineage([-1, 0, 0])
    attrs = {"license": np.array(["mit", None, "a:b=c [x]"], object),
             "langs": np.array([["en", "fr"], ["x|y", "%"], []], object),
             "n": np.array([1, 2.5, np.nan])}
    s = write_newick(lin, 0, attributes=attrs)
    assert s == ("(m1[&&NHX:langs=x%7Cy|%25:n=2.5],m2[&&NHX:license=a%3Ab%3Dc%20%5Bx%5D:langs=])"
                 "m0[&&NHX:license=mit:langs=en|fr:n=1];")
    t = read_newick(s)
    assert t.names.tolist() == ["m1", "m2", "m0"]
    assert t.attributes["license"].tolist() == [None, "a:b=c [x]", "mit"]
    assert t.attributes["langs"].tolist() == [["x|y", "%"], "", ["en", "fr"]]
    assert t.attributes["n"].tolist() == ["2.5", None, "1"]
    with pytest.raises(ValueError):
        write_newick(lin, 0, attributes={"bad key": np.array(["a", "b", "c"])})


def test_forest_matches_single_trees():
    lin = lineage(SMALL)
    assert list(write_forest(lin)) == [(0, write_newick(lin, 0)), (5, write_newick(lin, 5))]
    assert list(write_forest(lin, [5, 0])) == [(5, "(m6)m5;"), (0, "(m1,(m4)m2,m3)m0;")]
    with pytest.raises(ValueError):
        write_forest(lin, [2])                                   # not a family root
    with pytest.raises(ValueError):
        write_forest(lin, [0, 0])
    assert list(write_forest(lin, [])) == []


# -- reader ------------------------------------------------------------------------------------
def test_reader_syntax():
    text = "[&R] ( a_b :1.5 , 'c''d'[note]:2e-1 ,\n\t( , x:3 ) ) root ;"
    t = read_newick(text)
    assert t.names.tolist() == ["a b", "c'd", "", "x", "", "root"]
    assert t.parent.tolist() == [5, 5, 4, 4, 5, -1]
    assert t.length[[0, 1, 3]].tolist() == [1.5, 0.2, 3.0]
    assert np.isnan(t.length[[2, 4, 5]]).all()
    assert t.comments == {1: ["note"]}
    assert read_newick(text, preserve_underscores=True).names[0] == "a_b"
    assert read_newick("x;").names.tolist() == ["x"]


def test_reader_several_trees():
    a, b = read_newick_trees("(a,b)c;\n(d)e;")
    assert a.names.tolist() == ["a", "b", "c"] and a.parent.tolist() == [2, 2, -1]
    assert b.names.tolist() == ["d", "e"] and b.parent.tolist() == [1, -1]
    with pytest.raises(ValueError):
        read_newick("(a,b)c;(d)e;")


@pytest.mark.parametrize("bad", ["(a,b", "(a,b));", "a,b;", "(a,b)c", "('a,b)c;", "(a:,b);",
                                 "(a b,c);", "(a,b)c;d", "(a[x,b);"])
def test_reader_rejects(bad):
    with pytest.raises(ValueError):
        read_newick(bad)


def test_deep_chain_round_trip():
    n = 100_000
    lin = lineage([-1] + list(range(n - 1)))
    s = write_newick(lin, 0, lengths=np.ones(n))
    assert s.startswith("(" * (n - 1) + "m99999") and s.endswith(")m1:1)m0;")
    t = read_newick(s)
    assert t.names[-1] == "m0" and t.parent.tolist() == list(range(1, n)) + [-1]
    assert list(write_forest(lin, lengths=np.ones(n))) == [(0, s)]


def test_wide_family():
    n = 100_000
    lin = lineage([-1] + [0] * (n - 1))
    t = read_newick(write_newick(lin, 0))
    assert t.n == n and (t.parent[:-1] == n - 1).all()


# -- round trips through other libraries -------------------------------------------------------
# every character some reader treats specially, line breaks, NUL and non-ASCII
PUNCT = list("/-.:_ '()[]{}=,;\"\\#") + ["\r", "\n", "\r\n", "\0", "\t", "é", "中", "🙂", "\u00a0"]
HOSTILE = st.sampled_from(PUNCT) | st.sampled_from("abcAB012") | st.characters(codec="utf-8")
NAMES = st.lists(HOSTILE, min_size=1, max_size=8).map("".join)
ONE = st.sampled_from(PUNCT)                                    # one-character labels


@st.composite
def forests(draw, max_n=25):
    n = draw(st.integers(1, max_n))
    parent = [-1] + [draw(st.integers(-1, i - 1)) for i in range(1, n)]
    names = draw(st.lists(NAMES | ONE, min_size=n, max_size=n, unique=True))
    lengths = draw(st.lists(st.floats(0, 1e6, allow_nan=False) | st.integers(0, 1000).map(float),
                            min_size=n, max_size=n))
    return lineage(parent, ids=names), np.array(lengths)


def expected(lin: Lineage, root: int, lengths) -> dict:
    """name -> (parent name, branch length) below ``root`` (root: (None, None))."""
    out, stack = {}, [root]
    while stack:
        v = stack.pop()
        top = v == root
        out[lin.ids[v]] = (None if top else lin.ids[lin.parent[v]], None if top else float(lengths[v]))
        stack.extend(lin.children(v).tolist())
    return out


# The README's recipe for each reader, on a file (opened with newline="": a text-mode open
# would turn CR LF and CR inside labels into LF), and which labels it cannot read.
def ours(path):
    t = read_newick(open(path, encoding="utf-8", newline="").read())
    return {t.names[i]: (None if p < 0 else t.names[p], None if p < 0 else float(t.length[i]))
            for i, p in enumerate(t.parent.tolist())}


def ete(path):
    t = Tree(open(path, encoding="utf-8", newline="").read(), format=1, quoted_node_names=True)
    return {n.name: (None if n.up is None else n.up.name, None if n.up is None else n.dist)
            for n in t.traverse()}


def dendro(path):
    t = dendropy.Tree.get(file=open(path, encoding="utf-8", newline=""), schema="newick",
                          rooting="force-rooted", preserve_underscores=True, case_sensitive_taxon_labels=True)
    name = {n: n.taxon.label if n.taxon else n.label for n in t}        # tips are taxa
    return {name[n]: (None if n.parent_node is None else name[n.parent_node],
                      None if n.parent_node is None else n.edge.length)
            for n in t.preorder_node_iter()}


def bio(path):
    t = Phylo.read(open(path, encoding="utf-8", newline=""), "newick", comments_are_confidence=True)
    out = {t.root.name: (None, None)}
    for c in t.find_clades():
        out.update({k.name: (c.name, k.branch_length) for k in c.clades})
    return out


# label -> whether the reader may misread it (the README's list): the round trips check every
# other label exactly, test_reader_limits that the limits are real
LIMITS = {
    "ete3": lambda x: "'" in x or x.endswith("\\"),            # no doubled quotes; \' is an escape
    "ete3 nhx": lambda x: ("'" in x and '"' in x) or x.endswith("\\"),
    "dendropy": lambda x: x in list("(),;:"),                  # a quoted ':' is read as punctuation
    "Bio.Phylo": lambda x: (x.startswith("'") or "\n" in x or "\r" in x   # joins lines; '' first
                            or x.endswith("\\") or "\\'" in x),         # \' is an escape
}


def check_reader(name, read, path, want):
    """The reader gives exactly ``want`` unless a label is one it may misread."""
    if any(map(LIMITS[name], want)):
        event(f"{name}: a label it may misread")
        return
    event(f"{name}: checked")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read(path) == want


READERS = {"ete3": ete, "ete3 nhx": ete, "dendropy": dendro, "Bio.Phylo": bio}


@pytest.mark.parametrize("name,label", [
    ("ete3", "it's"), ("ete3", "a\\"), ("ete3 nhx", "'\""), ("ete3 nhx", "a\\"),
    ("dendropy", ":"), ("dendropy", ","), ("dendropy", "("),
    ("Bio.Phylo", "'a"), ("Bio.Phylo", "a\nb"), ("Bio.Phylo", "a\r\nb"), ("Bio.Phylo", "a\\'b")])
def test_reader_limits(tmp_path, name, label):
    """Each documented limit is real: the reader fails or returns other labels."""
    assert LIMITS[name](label)
    lin = lineage([-1, 0, 0], ids=["r", label, "x'"])
    path = tmp_path / "t.nwk"
    path.write_text(write_newick(lin, 0, dialect="nhx" if "nhx" in name else "newick"),
                    encoding="utf-8", newline="")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = READERS[name](path)
        except Exception:                                          # noqa: BLE001 (any reader error)
            return
    assert set(got) != {"r", label, "x'"}


def test_nhx_double_quotes_are_for_ete3(tmp_path):
    """The .nhx form of an id with ' is ete3's; dendropy and Bio.Phylo (README: use the .nwk) misread it."""
    path = tmp_path / "t.nhx"
    path.write_text(write_newick(lineage([-1, 0], ids=["r", "it's"]), 0, dialect="nhx"))
    assert path.read_text() == '("it\'s")r;'
    assert set(ete(path)) == set(ours(path)) == {"r", "it's"}
    for read in (dendro, bio):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                got = set(read(path))
            except Exception:                                      # noqa: BLE001 (any reader error)
                continue
        assert got != {"r", "it's"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("trees")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=forests())
def test_round_trip_all_readers(folder, data):
    lin, lengths = data
    attrs = {"license": np.array([None, "a'b", "x=y;z"] * lin.n, object)[:lin.n]}
    for root in np.flatnonzero(lin.parent < 0).tolist():
        want = expected(lin, root, lengths)
        nwk, nhx = folder / "t.nwk", folder / "t.nhx"
        nwk.write_text(write_newick(lin, root, lengths=lengths), encoding="utf-8", newline="")
        nhx.write_text(write_newick(lin, root, lengths=lengths, attributes=attrs, dialect="nhx"),
                       encoding="utf-8", newline="")
        assert ours(nwk) == want and ours(nhx) == want           # phylohf reads every label
        for name, read in READERS.items():
            check_reader(name, read, nhx if "nhx" in name else nwk, want)


def test_a_line_break_in_a_label_needs_newline_off(tmp_path):
    """Opened in text mode, Python turns CR LF into LF: the recipes open with newline=""."""
    path = tmp_path / "t.nwk"
    path.write_text(write_newick(lineage([-1, 0], ids=["a\r\nb", "c\rd"]), 0), encoding="utf-8", newline="")
    assert set(read_newick(path.read_text(encoding="utf-8")).names) == {"a\nb", "c\nd"}
    assert set(ours(path)) == {"a\r\nb", "c\rd"}
    assert set(ete(path)) == set(dendro(path)) == {"a\r\nb", "c\rd"}


@settings(max_examples=500, deadline=None)
@given(forests(max_n=12), st.data())
def test_nhx_round_trip(data, draw):
    lin, _ = data
    value = NAMES | st.integers(-5, 5) | st.lists(NAMES, min_size=2, max_size=3) | st.none()
    attrs = {k: np.array(draw.draw(st.lists(value, min_size=lin.n, max_size=lin.n)) + [0], object)[:-1]
             for k in ("license", "tags")}
    norm = lambda v: v if v is None or isinstance(v, list) else str(v)          # noqa: E731
    s_all = dict(write_forest(lin, attributes=attrs, lengths=np.ones(lin.n), dialect="nhx"))
    for root, s in s_all.items():
        t = read_newick(s)
        index = lin.index()
        for k, col in attrs.items():
            got = t.attributes.get(k, np.full(t.n, None, object))
            assert [norm(col[index[x]]) for x in t.names] == got.tolist()
        if not any(map(LIMITS["ete3 nhx"], t.names)):
            e = Tree(s, format=1, quoted_node_names=True)
            for node in e.traverse():
                for k, col in attrs.items():
                    v = col[index[node.name]]
                    assert (decode_nhx_value(getattr(node, k)) if k in node.features else None) == norm(v)


@settings(max_examples=300, deadline=None)
@given(forests(max_n=15))
def test_sampled_ancestor_round_trip(data):
    lin, lengths = data
    for root in np.flatnonzero(lin.parent < 0).tolist():
        s = write_newick(lin, root, lengths=lengths, ancestors="tips")
        t = read_newick(s)
        tips = set(t.names[np.setdiff1d(np.arange(t.n), t.parent)].tolist())
        assert tips == set(expected(lin, root, lengths))             # every model is a tip
        if not any(map(LIMITS["ete3"], tips)):
            assert sorted(Tree(s, format=1, quoted_node_names=True).get_leaf_names()) == sorted(tips)
        if not any(map(LIMITS["dendropy"], tips)):                    # repeated labels: tips are taxa
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = dendropy.Tree.get(data=s, schema="newick", rooting="force-rooted",
                                      preserve_underscores=True, case_sensitive_taxon_labels=True)
            assert sorted(n.taxon.label for n in d.leaf_node_iter()) == sorted(tips)
        internal = t.parent[t.parent >= 0]
        for v in np.unique(internal).tolist():                        # ... and its own first child
            kids = np.flatnonzero(t.parent == v)
            assert t.names[kids[0]] == t.names[v] and t.length[kids[0]] == 0
