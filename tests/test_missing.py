"""Missing not at random: undeclared as a state, non-random masks, expected violations among
imputed edges, EM rows without data."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import expm

from forests import forest, random_tree
from phylohf.genealogy.genome import GROUPS, Genome
from phylohf.genealogy.licensing import RULES
from phylohf.analyses.licenses import Imputation, expected_violations
from phylohf.genealogy.lineage import Lineage
from phylohf.phylo import masking
from phylohf.phylo.asr import marginal, pair_posteriors, posterior_draws
from phylohf.phylo.mk import q_matrix, simulate_states
from phylohf.phylo.reconstruct import reconstruct
from phylohf.phylo.transitions import em_matrix
from phylohf.genealogy.traits import UNDECLARED, categorical, character, with_missing
from test_asr import assignments, random_lengths


def _genome(licenses: list[str | None]) -> Genome:
    """A genome of one group, license, with one column per distinct id (most frequent first)."""
    ids = sorted({x for x in licenses if x}, key=lambda x: (-licenses.count(x), x))
    rows = [i for i, x in enumerate(licenses) if x]
    m = sp.csr_matrix((np.ones(len(rows), bool), (rows, [ids.index(licenses[i]) for i in rows])),
                      shape=(len(licenses), len(ids)))
    declared = np.zeros((len(licenses), len(GROUPS)), bool)
    declared[:, GROUPS.index("license")] = [x is not None for x in licenses]
    return Genome(m, np.zeros(len(ids), np.int64), np.array(ids, object),
                  np.asarray(m.sum(axis=0)).ravel(), declared)


def test_undeclared_is_a_state_of_observed_models_only():
    g = _genome(["mit", "mit", None, "apache-2.0", None, None])
    observed = np.array([True, True, True, True, True, False])         # the last node is a placeholder
    assert categorical(g, "license")[0].tolist() == [0, 0, -1, 1, -1, -1]
    states, names = categorical(g, "license", missing="state", observed=observed)
    assert names == ["mit", "apache-2.0", UNDECLARED]
    assert states.tolist() == [0, 0, 2, 1, 2, -1]
    states, names = categorical(g, "license", top=1, missing="state", observed=observed)
    assert names == ["mit", "(rare)", UNDECLARED] and states.tolist() == [0, 0, 2, 1, 2, -1]
    states, names = character(g, "license:mit", missing="state", observed=observed)   # binary traits too
    assert names == ["absent", "present", UNDECLARED] and states.tolist() == [1, 1, 2, 0, 2, -1]
    with pytest.raises(ValueError, match="observed flags"):
        with_missing(states, names, "state")
    with pytest.raises(ValueError, match="missing must be one of"):
        with_missing(states, names, "drop", observed)


def _relations_forest():
    """Two families: 0 -> 1 (finetune), 2 (quantized), 3 (quantized); 4 -> 5 (adapter), 6 (quantized);
    authors a (0, 1, 4), b (2, 3), c (5, 6)."""
    parent = np.array([-1, 0, 0, 0, -1, 4, 4])
    rel = np.array([0, 2, 2, 1, 2])
    child = np.flatnonzero(parent >= 0)
    ids = np.array(["a/0", "a/1", "b/2", "b/3", "a/4", "c/5", "c/6"], object)
    return Lineage.from_edges(ids, np.ones(7, bool), np.zeros(7, np.int64), child, parent[child],
                              np.ones(len(child), np.int64), rel)


def test_relation_and_author_masks_hide_exactly_their_nodes():
    lin = _relations_forest()
    states = np.array([0, 1, 0, -1, 1, 0, 1])
    assert masking.relation_mask(states, lin.relation, 2).tolist() == [2, 6]      # 3 is unknown already
    assert masking.relation_mask(states, lin.relation, 0).tolist() == [1]
    assert masking.relation_mask(states, lin.relation, 3).tolist() == []
    author = masking.authors(lin.ids)
    assert author[[0, 1, 4]].tolist() == [author[0]] * 3 and len(set(author.tolist())) == 3
    for seed in range(10):                  # whole authors only, within the share (at least one)
        hidden = masking.author_mask(states, author, 0.5, np.random.default_rng(seed))
        whole = {frozenset(np.flatnonzero((author == a) & (states >= 0)).tolist()) for a in set(author[hidden])}
        assert set(hidden.tolist()) == set().union(*whole)
        assert len(hidden) <= 3 or len(whole) == 1


def test_reconstruct_scores_every_scheme_and_keeps_the_random_one():
    rng = np.random.default_rng(5)
    n = 600
    parent = random_tree(n, rng)
    child = np.flatnonzero(parent >= 0)
    rel = rng.integers(0, 4, len(child))
    lin = Lineage.from_edges(np.array([f"u{i % 37}/m{i}" for i in range(n)], object), np.ones(n, bool),
                             np.zeros(n, np.int64), child, parent[child], np.ones(len(child), np.int64), rel)
    Q = q_matrix("ER", [0.3], 3)
    lengths = np.where(parent >= 0, 1.0, np.nan)
    truth = simulate_states(lin, Q, lengths, np.full(3, 1 / 3), rng)
    r = reconstruct(lin, truth, 3, lengths, mask=0.2, starts=1, seed=4)
    masked, hidden = masking.mask(truth, 0.2, np.random.default_rng(4))          # the random scheme as it was
    assert r.checks["hidden"] == len(hidden) and (r.states == masked).all()
    assert set(r.checks["schemes"]) == {"relation:finetune", "relation:adapter", "relation:quantized",
                                        "relation:merge", "authors"}
    for i, name in enumerate(("finetune", "adapter", "quantized", "merge")):
        c = r.checks["schemes"][f"relation:{name}"]
        assert c["hidden"] == int(((lin.relation == i) & (truth >= 0)).sum())
        assert set(c["scores"]["all hidden"]) == {"Mk marginal", "copy parent", "majority"}
    assert 0 < r.checks["schemes"]["authors"]["hidden"] <= 0.2 * n


def test_pair_posteriors_and_joint_draws_match_enumeration():
    rng = np.random.default_rng(3)
    for _ in range(8):
        n, k = int(rng.integers(3, 7)), int(rng.integers(2, 4))
        parent = random_tree(n, rng)
        lin = forest(parent)
        Q = q_matrix("ARD", rng.uniform(0.1, 2, k * (k - 1)), k)
        lengths = random_lengths(parent, rng)
        st = simulate_states(lin, Q, lengths, np.full(k, 1 / k), rng)
        st[rng.random(n) < 0.6] = -1
        S = assignments(st, k)
        w = np.ones(len(S))
        for v in np.flatnonzero(parent >= 0):
            w *= expm(Q * lengths[v])[S[:, parent[v]], S[:, v]]
        w /= w.sum()
        children = np.flatnonzero(parent >= 0)
        pairs = pair_posteriors(lin, st, Q, lengths, children)
        for v, got in zip(children, pairs):
            want = np.zeros((k, k))
            np.add.at(want, (S[:, parent[v]], S[:, v]), w)
            assert np.allclose(got, want)
        X = posterior_draws(lin, st, Q, lengths, np.arange(n), 20_000, rng)
        code, ref = (X * k ** np.arange(n)[:, None]).sum(axis=0), (S * k ** np.arange(n)).sum(axis=1)
        freq = (code[:, None] == ref[None, :]).mean(axis=0)
        assert np.abs(freq - w).max() < 0.02


def _chain(observed):
    """m0 (cc-by-nc-4.0) -> m1 -> m2, both undeclared; ER rate 0.5 per unit branch length."""
    lin = Lineage.from_edges(np.array(["m0", "m1", "m2"], object), np.asarray(observed), np.zeros(3, np.int64),
                             np.array([1, 2]), np.array([0, 1]), np.ones(2, np.int64), np.zeros(2, np.int8))
    names = ["cc-by-nc-4.0", "mit"]
    st = np.array([0, -1, -1])
    Q = q_matrix("ER", [0.5], 2)
    imputed = np.asarray(observed) & (st < 0)
    return lin, st, names, _imputation(lin, st, names, Q, imputed), imputed


def _imputation(lin, st, names, Q, imputed) -> Imputation:
    """The imputation of the ``imputed`` nodes by ``Q`` (unit branch lengths), as impute makes it."""
    nodes = np.flatnonzero(imputed)
    post = marginal(lin, st, Q, np.where(lin.parent >= 0, 1.0, np.nan)).posterior[nodes]
    return Imputation(nodes, post, names, 0.0, "", st, Q)


def test_expected_violations_on_a_three_node_chain():
    # m0 -> m1 breaks non-commercial-lifted when m1 is mit (P = d); m1 -> m2 when m1 is nc and
    # m2 mit (P = s d): expected d + s d, but never both at once, so at most one violation
    lin, st, names, imp, imputed = _chain([True, True, True])
    s, d = (1 + np.exp(-1)) / 2, (1 - np.exp(-1)) / 2
    e = expected_violations(lin, np.array([1, 2]), np.array([0, 1]), st, names, imp, imputed, draws=2000)
    assert e["edges"] == 2 and e["both_imputed"] == 1
    assert e["expected"] == pytest.approx(d + s * d) and e["certain"] == pytest.approx(d + s * d)
    assert e["by_rule"] == {"non-commercial-lifted": pytest.approx(d + s * d)}
    assert e["ci95"] == [0.0, 1.0]            # independent edges would allow 2
    assert RULES[[r.name for r in RULES].index("non-commercial-lifted")].certain


def test_a_merge_edge_between_imputed_models_is_judged_from_the_draws():
    # m0 (nc) -> m1, m2 (mit) -> m3, m1 and m3 undeclared; merge edge m1 -> m3, across families so
    # its ends are independent: it breaks non-commercial-lifted with P(m1 nc) P(m3 mit) = s^2
    from phylohf.analyses.licenses import edges
    lin = Lineage.from_edges(np.array(["m0", "m1", "m2", "m3"], object), np.ones(4, bool), np.zeros(4, np.int64),
                             np.array([1, 3, 3]), np.array([0, 2, 1]), np.array([1, 1, 2]), np.array([0, 0, 3]))
    st = np.array([0, -1, 1, -1])
    names = ["cc-by-nc-4.0", "mit"]
    imputed = st < 0
    imp = _imputation(lin, st, names, q_matrix("ER", [0.5], 2), imputed)
    child, parent, _ = edges(lin)
    e = expected_violations(lin, child, parent, st, names, imp, imputed, draws=4000)
    s, d = (1 + np.exp(-1)) / 2, (1 - np.exp(-1)) / 2
    assert e["edges"] == 3 and e["both_imputed"] == 1
    assert e["expected"] == pytest.approx(d + s * s, abs=0.03)
    assert e["ci95"] == [0.0, 1.0]           # m0 -> m1 needs m1 mit, the merge edge m1 nc: never both


def test_placeholders_are_not_imputed():
    lin, st, names, imp, imputed = _chain([True, True, False])      # m2 is a placeholder
    e = expected_violations(lin, np.array([1, 2]), np.array([0, 1]), st, names, imp, imputed, draws=500)
    assert e["edges"] == 1 and e["expected"] == pytest.approx((1 - np.exp(-1)) / 2)


def test_em_row_that_no_edge_leaves_is_marked():
    from phylohf.phylo.transitions import tree_transitions
    # state 2 sits only at leaves: no edge leaves it, its EM row would be its uniform start
    lin = forest([-1, 0, 0, 1, 1, 2])
    st = np.array([0, 1, 0, 2, 1, 2])
    em = em_matrix(lin, st, 3)
    assert em.no_data().tolist() == [2] and em.edges[0].tolist() == [3, 2, 0]
    t = tree_transitions(lin, st, 3)
    names = ["a", "b", "c"]
    j = t.to_json(names)
    assert j["P_em"][2] is None and j["P_em"][1] == pytest.approx([0, 0.5, 0.5])
    assert j["em"]["rows_without_data"] == ["c"]
    text = t.text(names, "x", "test")
    em_block = text.split("P by maximum likelihood")[1].split("Bowker")[0]
    row = next(line for line in em_block.splitlines() if line.startswith("c ->"))
    assert "no data" in row and "0.333" not in row
    # one unknown parent gives every state some mass: no row is marked
    assert em_matrix(lin, np.array([0, -1, 0, 2, 1, 2]), 3).no_data().tolist() == []


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from forests import simulated_store
    return str(simulated_store(tmp_path_factory.mktemp("missing"), 3000, seed=3))


def test_cli_missing_state_and_schemes(store, capsys, tmp_path):
    import json
    from phylohf.cli import main
    assert main(["asr", "--store", store, "--missing", "state", "--json", "--starts", "1", "--mask", "0.2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["states"][-1] == UNDECLARED and "authors" in data["mask_check"]["schemes"]
    assert main(["transitions", "--store", store, "--missing", "state", "--null", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{UNDECLARED} ->" in out and "a state of its own" in out
    assert main(["transitions", "--store", store, "--trait", "language", "--missing", "state"]) == 1
    assert "--missing state applies to single-valued" in capsys.readouterr().err
    assert main(["audit-licenses", "--store", store, "--json"]) == 0
    e = json.loads(capsys.readouterr().out)["expected_violations"]
    assert e["ci95"][0] <= e["expected"] <= e["ci95"][1] and e["edges"] >= e["both_imputed"]
    assert main(["report", "--store", store, "--missing", "state", "--bootstrap", "10", "--null", "3",
                 "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "r.txt")]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["transitions"]["states"][-1] == UNDECLARED and report["asr"]["states"][-1] == UNDECLARED
    assert report["audit"]["expected_violations"] is None and "none is imputed" in report["audit"]["imputation"]
    for command in ("asr", "transitions", "report"):
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        assert stop.value.code == 0
        assert "not a random hider" in " ".join(capsys.readouterr().out.split())


def test_accuracy_shares_a_tie_among_the_tied_states():
    """A hit on a tie of k states counts 1/k, float noise included: (1/2 + 1 + 1/3) / 3."""
    flat = np.full(3, 1 / 3)
    flat[0] += 1e-16                              # argmax would say state 0, always
    prob = np.array([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0], flat])
    scores = masking.score(prob, np.array([0, 1, 2]))
    assert scores["accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3, abs=1e-12)
    assert masking.score(prob, np.array([2, 0, 0]))["accuracy"] == pytest.approx((0 + 0 + 1 / 3) / 3, abs=1e-12)
