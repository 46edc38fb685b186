"""phylohf.phylo.optim against scipy.optimize: the same minima, Brent's method step for step."""
import dataclasses

import numpy as np
import pytest
from scipy import optimize

from phylohf.phylo.optim import forward_gradient, minimize_bounded, minimize_box


def rosenbrock(x):
    f = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return float(f), g


def scipy_box(fg, x0, lo, hi):
    return optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)))


@pytest.mark.parametrize("n,lo,hi", [(2, -5.0, 5.0), (6, -5.0, 5.0), (6, -5.0, 0.7), (4, 1.3, 4.0)])
def test_rosenbrock_with_free_and_binding_bounds(n, lo, hi):
    lo, hi = np.full(n, lo), np.full(n, hi)
    x0 = np.clip(np.linspace(-1.2, 1.0, n), lo, hi)
    ours, theirs = minimize_box(rosenbrock, x0, lo, hi), scipy_box(rosenbrock, x0, lo, hi)
    assert ours.converged
    assert ours.fun <= theirs.fun + 1e-6
    assert np.allclose(ours.x, theirs.x, atol=1e-3)
    if hi[0] == 5.0 and lo[0] == -5.0:
        assert np.allclose(ours.x, 1.0, atol=1e-3)          # the unconstrained minimum
    assert np.all((ours.x >= lo) & (ours.x <= hi))


def test_bound_constrained_quadratics_reach_the_kkt_point():
    """min 1/2 x'Ax - b'x in a box: at the answer every free coordinate has zero gradient and
    every coordinate at a bound a gradient pointing out of the box."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(2, 15))
        m = rng.normal(size=(n, n))
        a = m @ m.T + 0.1 * np.eye(n)
        b = rng.normal(size=n) * 3
        lo, hi = -rng.uniform(0, 1, n), rng.uniform(0, 1, n)

        def fg(x):
            return float(0.5 * x @ a @ x - b @ x), a @ x - b

        ours = minimize_box(fg, np.zeros(n), lo, hi, ftol=1e-14, gtol=1e-8)
        g = fg(ours.x)[1]
        free = (ours.x > lo + 1e-9) & (ours.x < hi - 1e-9)
        assert np.abs(g[free]).max(initial=0) < 1e-5
        assert np.all(g[np.isclose(ours.x, lo)] >= -1e-5) and np.all(g[np.isclose(ours.x, hi)] <= 1e-5)
        assert ours.fun == pytest.approx(scipy_box(fg, np.zeros(n), lo, hi).fun, abs=1e-6)


def test_a_start_already_at_the_minimum_costs_one_evaluation():
    r = minimize_box(rosenbrock, np.ones(3), np.full(3, -2.0), np.full(3, 2.0))
    assert r.nfev == 1 and r.converged and r.fun == 0.0


def test_a_second_start_stops_where_a_known_minimum_stands():
    """Given the minimum of a first start, a second start that reaches it stops there, within
    the tolerance, with fewer evaluations; given a minimum elsewhere, it runs as without."""
    lo, hi = np.full(4, -5.0), np.full(4, 5.0)
    first = minimize_box(rosenbrock, np.full(4, -1.0), lo, hi)
    alone = minimize_box(rosenbrock, np.array([0.5, -0.5, 1.5, 0.0]), lo, hi)
    second = minimize_box(rosenbrock, np.array([0.5, -0.5, 1.5, 0.0]), lo, hi, known=first)
    assert np.allclose(first.x, 1.0, atol=1e-3) and np.allclose(alone.x, 1.0, atol=1e-3)
    assert second.nfev < alone.nfev and not second.converged
    assert np.abs(second.x - first.x).max() <= 1e-2 and second.fun <= first.fun + 1e-6
    elsewhere = dataclasses.replace(first, x=np.full(4, -3.0))
    again = minimize_box(rosenbrock, np.array([0.5, -0.5, 1.5, 0.0]), lo, hi, known=elsewhere)
    assert again.nfev == alone.nfev and np.array_equal(again.x, alone.x)


@pytest.mark.parametrize("f,lo,hi,xatol", [
    (lambda x: (x - 1.3) ** 2 + 0.1 * np.sin(5 * x), -4.0, 4.0, 1e-2),
    (lambda x: np.exp(x) - 3 * x, -4.0, 4.0, 1e-5),
    (lambda x: abs(x - 0.2), -1.0, 2.0, 1e-8),                  # no parabola fits a kink
    (lambda x: x ** 3, -2.0, 3.0, 1e-5),                        # the minimum at the lower bound
    (lambda x: -np.log(x) + x / 7.0, 0.01, 50.0, 1e-6),
])
def test_brent_takes_the_steps_of_scipy_bounded_search(f, lo, hi, xatol):
    ours = minimize_bounded(f, lo, hi, xatol=xatol)
    theirs = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    assert ours.x == pytest.approx(theirs.x, abs=1e-12)
    assert ours.nfev == theirs.nfev


def test_forward_gradient_against_the_derivative():
    x = np.array([0.3, -1.1, 2.0])
    f = lambda v: float(np.sum(np.sin(v) * v ** 2))
    assert np.allclose(forward_gradient(f, x), np.cos(x) * x ** 2 + 2 * x * np.sin(x), atol=1e-6)
