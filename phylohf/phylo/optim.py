"""Bounded minimisation for the Mk fits, without scipy.optimize: importing it takes 0.5-0.9 s,
more than fitting 10,000 tips. Two methods, each checked against scipy's in tests/test_optim.py:

- :func:`minimize_box`: a projected quasi-Newton method for a function with its gradient
  within bounds (BFGS on the variables not held at a bound, Armijo backtracking along the
  projected path), stopping as L-BFGS-B does by default (relative gain under ``ftol``, or
  every projected gradient component under ``gtol``);
- :func:`minimize_bounded`: Brent's method on an interval (golden sections and parabolic
  steps), as ``scipy.optimize.minimize_scalar(method="bounded")``;

and :func:`forward_gradient`, as ``scipy.optimize.approx_fprime``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FTOL, GTOL = 2.220446049250313e-09, 1e-5        # L-BFGS-B's defaults
_GOLDEN = 0.5 * (3.0 - 5.0 ** 0.5)
_SQRT_EPS = 2.2e-16 ** 0.5                      # Brent's relative tolerance, as scipy's


@dataclass
class Minimum:
    x: np.ndarray | float
    fun: float
    nfev: int
    nit: int
    converged: bool


def minimize_box(fun_and_grad, x0, lo, hi, ftol: float = FTOL, gtol: float = GTOL,
                 maxiter: int = 1000, known: Minimum | None = None) -> Minimum:
    """Minimise ``fun_and_grad(x) -> (f, gradient)`` over ``lo <= x <= hi`` from ``x0``.

    ``known``, a minimum found already (from another start): the search stops, unconverged,
    once it stands at that minimum (every coordinate within 1e-2, f within 1e-6 of max(|f|, 1)
    above), where it could only end as that one did."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    x = np.clip(np.asarray(x0, float), lo, hi)
    f, g = fun_and_grad(x)
    nfev, H, converged = 1, None, False
    for it in range(1, maxiter + 1):
        if np.abs(np.clip(x - g, lo, hi) - x).max(initial=0.0) <= gtol:
            converged = True
            break
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))     # not held at a bound
        if H is None:
            d = np.where(free, -g, 0.0) / max(1.0, float(np.linalg.norm(g[free])))
        else:
            d = np.zeros_like(x)
            d[free] = -H[np.ix_(free, free)] @ g[free]
            if g @ d >= 0:                          # not a descent: start the curvature again
                H, d = None, np.where(free, -g, 0.0) / max(1.0, float(np.linalg.norm(g[free])))
        step = 1.0
        while True:
            xn = np.clip(x + step * d, lo, hi)
            fn, gn = fun_and_grad(xn)
            nfev += 1
            if fn <= f + 1e-4 * float(g @ (xn - x)):
                break
            step *= 0.5 if not np.isfinite(fn) else max(0.1, min(0.5, _backtrack(f, g @ (xn - x), fn)))
            if step < 1e-12:                        # no progress along a descent direction: done
                return Minimum(x, float(f), nfev, it, True)
        s, y = xn - x, gn - g
        gained = f - fn
        x, f, g = xn, fn, gn
        if (known is not None and f <= known.fun + 1e-6 * max(abs(known.fun), 1.0)
                and np.abs(x - known.x).max() <= 1e-2):
            break
        if gained <= ftol * max(abs(f), abs(f + gained), 1.0):
            converged = True
            break
        sy = float(s @ y)
        if sy > 1e-10 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            if H is None:
                H = np.eye(len(x)) * (sy / float(y @ y))
            rho, Hy = 1.0 / sy, H @ y
            H = H + (rho * rho * float(y @ Hy) + rho) * np.outer(s, s) - rho * (np.outer(Hy, s) + np.outer(s, Hy))
    return Minimum(x, float(f), nfev, it, converged)


def _backtrack(f: float, slope: float, fn: float) -> float:
    """The fraction of a step at the minimum of the parabola through f, its slope and fn."""
    curvature = fn - f - slope
    return -slope / (2.0 * curvature) if curvature > 0 else 0.5


def forward_gradient(fun, x: np.ndarray, h: float = 1e-8) -> np.ndarray:
    """The gradient of ``fun`` at ``x`` by forward differences of step ``h``."""
    f = fun(x)
    return np.array([(fun(x + h * e) - f) / h for e in np.eye(len(x))])


def minimize_bounded(fun, lo: float, hi: float, xatol: float = 1e-5, maxiter: int = 500) -> Minimum:
    """Brent's minimisation of ``fun(x)`` over ``[lo, hi]`` to within ``xatol``."""
    a, b = float(lo), float(hi)
    x = w = v = a + _GOLDEN * (b - a)
    fx = fw = fv = fun(x)
    d = e = 0.0
    nfev = 1
    for it in range(1, maxiter + 1):
        mid = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(x) + xatol / 3.0
        tol2 = 2.0 * tol1
        if abs(x - mid) <= tol2 - 0.5 * (b - a):
            return Minimum(x, float(fx), nfev, it, True)
        golden = True
        if abs(e) > tol1:                           # a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (a - x) < p < q * (b - x):
                e, d = d, p / q
                golden = False
                u = x + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if mid >= x else -tol1
        if golden:
            e = (a if x >= mid else b) - x
            d = _GOLDEN * e
        u = x + (d if abs(d) >= tol1 else (tol1 if d >= 0 else -tol1))
        fu = fun(u)
        nfev += 1
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return Minimum(x, float(fx), nfev, maxiter, False)
