"""Model comparison (AIC weights, LRTs named by what they detect) and the parametric-bootstrap
LRT: its p formula, its replicates' shape (observed roots and missingness kept) and its size."""
import numpy as np
import pytest
from forests import forest, mk_data, random_tree

from phylohf.phylo.bootstrap import bootstrap_lrt, bootstrap_p, simulate_like
from phylohf.phylo.compare import TWO_STATES, akaike_weights, compare_models
from phylohf.phylo.mk import fit_mk, q_matrix


def test_akaike_weights_by_hand():
    w = akaike_weights({"a": 10.0, "b": 12.0, "c": 20.0})
    z = 1 + np.exp(-1) + np.exp(-5)
    assert w["a"] == pytest.approx(1 / z) and w["b"] == pytest.approx(np.exp(-1) / z)
    assert sum(w.values()) == pytest.approx(1.0)


def test_three_state_comparison_has_every_test():
    Q = q_matrix("ARD", [0.2, 0.5, 0.1, 0.4, 0.3, 0.6], 3)
    lin, states, lengths = mk_data(Q, 800, 0.2, np.random.default_rng(3))
    c = compare_models(lin, states, lengths, 3, starts=1)
    assert list(c.fits) == ["ER", "F81", "SYM", "GTR", "ARD"]
    assert {name: t["df"] for name, t in c.tests.items()} == \
        {"SYM vs ER": 2, "GTR vs F81": 2, "ARD vs SYM": 3, "ARD vs GTR": 1}
    assert "non-reversibility" in c.tests["ARD vs GTR"]["detects"]
    assert "not a test of direction" in c.tests["ARD vs SYM"]["detects"]
    js = c.to_json()
    assert set(js["lrt"]["ARD vs GTR"]) >= {"statistic", "df", "p"}
    assert np.allclose(np.array(js["models"]["GTR"]["pi"]).sum(), 1.0)
    assert any("non-reversibility" in line for line in c.lines())


def test_two_states_say_every_chain_is_reversible():
    lin, states, lengths = mk_data(q_matrix("ARD", [0.2, 0.6], 2), 300, 0.2, np.random.default_rng(4))
    c = compare_models(lin, states, lengths, 2, starts=1)
    assert set(c.tests) == {"ARD vs SYM"} and c.tests["ARD vs SYM"]["df"] == 1
    assert c.notes == [TWO_STATES]
    # GTR, F81 and ARD are the same family of chains with 2 states
    assert c.fits["GTR"].loglik == pytest.approx(c.fits["ARD"].loglik, abs=1e-3)
    assert c.fits["F81"].loglik == pytest.approx(c.fits["ARD"].loglik, abs=1e-3)


@pytest.mark.parametrize("workers", [1, 2])
def test_bootstrap_p_formula(workers):
    values = iter([0.5, 3.0, 1.0, 2.0, 5.0])        # drawn in order, refitted on any worker
    p, null = bootstrap_p(2.0, lambda rng: next(values), lambda v: v, 5, seed=0, workers=workers)
    assert p == pytest.approx((1 + 3) / (1 + 5)) and null.tolist() == [0.5, 3.0, 1.0, 2.0, 5.0]


def test_bootstrap_refits_do_not_depend_on_the_workers():
    lin, states, lengths = mk_data(q_matrix("SYM", [0.4, 0.2, 0.7], 3), 80, 0.2, np.random.default_rng(3))
    small = fit_mk(lin, states, lengths, "SYM", starts=1, k=3)
    runs = [bootstrap_p(1.0, lambda rng: simulate_like(lin, states, lengths, small.Q, "equal", rng),
                        lambda sim: fit_mk(lin, sim, lengths, "ARD", starts=1, k=3).loglik, 6, seed=4,
                        workers=w)[1] for w in (1, 2)]
    assert np.array_equal(runs[0], runs[1]) and len(np.unique(runs[0])) == 6


def test_replicates_keep_observed_roots_and_missingness():
    parent = np.r_[random_tree(30, np.random.default_rng(0)), -1, 30, 30, -1, 33]
    lin = forest(parent)
    states = np.random.default_rng(1).integers(-1, 3, len(parent))
    states[[0, 30, 33]] = [2, -1, 1]
    lengths = np.where(parent >= 0, 1.0, np.nan)
    Q = q_matrix("ER", [5.0], 3)                    # fast: children forget their roots
    for seed in range(5):
        sim = simulate_like(lin, states, lengths, Q, "equal", np.random.default_rng(seed))
        assert np.array_equal(sim < 0, states < 0)
        assert sim[0] == 2 and sim[33] == 1 and sim[30] == -1


def test_bootstrap_lrt_is_calibrated_under_the_null():
    """ARD vs SYM (the only test at k = 2) with p from 19 replicates each: under a symmetric
    chain the rejections at 0.05 stay near nominal and the p-values near uniform."""
    Q = q_matrix("SYM", [0.4], 2)
    ps = []
    for r in range(10):
        lin, states, lengths = mk_data(Q, 50, 0.2, np.random.default_rng(500 + r))
        small = fit_mk(lin, states, lengths, "SYM", starts=1, k=2)
        big = fit_mk(lin, states, lengths, "ARD", starts=1, k=2)
        stat = max(0.0, 2 * (big.loglik - small.loglik))
        p, null = bootstrap_lrt(lin, states, lengths, small, "ARD", 19, r, stat)
        assert len(null) == 19 and 1 / 20 <= p <= 1
        ps.append(p)
    ps = np.array(ps)
    assert np.sum(ps <= 0.05) <= 1, ps              # the large calibration runs in scripts/
    assert 0.3 <= ps.mean() <= 0.7, ps.mean()
