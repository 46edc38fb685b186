"""Hidden rate classes of parents: some parents copy (bulk uploaders), others edit.

Every parent (a node with children) belongs to one of R classes, drawn independently with
weights w_r; all edges to its children move by Q_r = scale_r Q (scale_0 = 1, classes
reported slowest first). The likelihood sums over each parent's class, which its
children's edges share: at a parent with state a the children's messages combine as
sum_r w_r prod_c (P_r(t_c) L_c)[a]. A down pass gives the likelihood, an up pass the
outside messages, and with them each parent's posterior class probabilities ("which
parents edit?"). Transition probabilities are floored at 1e-300 so that logs stay finite.
The fit is a bounded quasi-Newton search (:func:`.optim.minimize_box`) from the one-class
fit, with the exact gradient (the up pass's outside messages weight the derivative of every
P_r; Fisher's identity for the class weights) under the equal root prior and few distinct
lengths, finite differences otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..genealogy.lineage import Lineage
from .asr import _clamp, _log_apply, _log_root_prior, _plan
from .bootstrap import bootstrap_p, lrt_test, simulate_like, lrt_text
from .mk import (IMPOSSIBLE, MkFit, _check, _class_rows, _eigen, _logsumexp, _sum_rows, class_gradient,
                 class_transitions, edge_keys, fit_mk, lrt)
from .optim import forward_gradient, minimize_box
from .ratemodels import rate_model

_FLOOR = 1e-300
DETECTS = "parents that differ in how fast their children change (e.g. copying vs editing)"


class RateClassData:
    """The level plan of a forest, its clamps and the distinct lengths, made once."""

    def __init__(self, lineage: Lineage, states, lengths, k: int):
        states, lengths = _check(lineage, states, lengths)
        key, self.lu = edge_keys(lineage.parent, lengths)
        self.steps, self.keys = _plan(lineage, key)
        self.k, self.n = k, lineage.n
        self.roots = np.flatnonzero(lineage.parent < 0)
        self.parents = np.unique(lineage.parent[lineage.parent >= 0])
        with np.errstate(divide="ignore"):
            self.clamp = _clamp(states, k, -np.inf)
        # per level, the rows of each length class (None: too many lengths for the gradient)
        self.class_rows = [_class_rows(s.cls, len(self.lu)) for s in self.steps]

    def _transitions(self, Q, scales) -> list[np.ndarray]:
        return [np.maximum(class_transitions(s * Q, self.keys, self.lu), _FLOOR) for s in scales]

    @property
    def exact_gradient(self) -> bool:
        """Whether :meth:`passes` can give the gradient weights (few distinct lengths)."""
        return all(rows is not None for rows in self.class_rows)

    def passes(self, Q, scales, weights, root_prior: str = "equal", up: bool = False):
        """(log-likelihood, per-parent log posterior of its class (n, R) or None, and with
        ``up`` the weights S (R, lengths, k, k) of the gradient: d ll / d P_r(t_c)[a, b] summed
        over the edges of length class c below parents of class r)."""
        Ps = self._transitions(Q, scales)
        R, logw = len(scales), np.log(weights)
        D = self.clamp.copy()
        S = np.zeros((R, self.n, self.k))          # per class: sum of the children's log messages
        M = [dict() for _ in range(R)]
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, s in enumerate(self.steps):
                for r in range(R):
                    M[r][i] = _log_apply(Ps[r], s.cls, D[s.nodes], up=False)
                    S[r, s.targets] = _sum_rows(s.reduce, M[r][i])
                mix = np.logaddexp.reduce(logw[:, None, None] + S[:, s.targets], axis=0)
                D[s.targets] += mix
            A = np.zeros_like(D)
            A[self.roots] = _log_root_prior(D[self.roots], Q, root_prior)
            llr = _logsumexp(A[self.roots] + D[self.roots])
            ll = float(llr.sum())
            if not up:
                return ll, None, None
            A[self.roots] -= llr[:, None]               # outside messages are d ll / d partial
            joint = np.full((self.n, R), -np.inf)
            grad = np.zeros((R, len(self.lu), self.k, self.k))
            for i in reversed(range(len(self.steps))):
                s, rows = self.steps[i], self.class_rows[i]
                base = [logw[r] + A[s.targets] + self.clamp[s.targets] + S[r, s.targets] for r in range(R)]
                joint[s.targets] = np.stack([_logsumexp(b) for b in base], axis=1)
                pos = np.searchsorted(s.targets, s.parents)
                out = [base[r][pos] - M[r][i] for r in range(R)]     # log d ll / d message, per class
                if rows is not None:                    # sum of U L^T per class and length
                    dmax = D[s.nodes].max(axis=1)
                    dmax = np.where(np.isfinite(dmax), dmax, 0.0)[:, None]
                    lin = np.exp(D[s.nodes] - dmax)
                    for r in range(R):
                        u = np.nan_to_num(np.exp(out[r] + dmax))
                        for c, rr in rows:
                            grad[r, c] += u[rr].T @ lin[rr]
                A[s.nodes] = np.logaddexp.reduce(
                    [_log_apply(Ps[r], s.cls, out[r], up=True) for r in range(R)], axis=0)
        return ll, joint, grad


@dataclass
class RateClassFit:
    Q: np.ndarray              # the class-0 (scale 1) matrix
    scales: np.ndarray         # (R,), ascending
    weights: np.ndarray        # (R,)
    loglik: float
    n_params: int
    aic: float
    single: MkFit              # R = 1
    test: dict                 # LRT against R = 1
    parents: np.ndarray        # nodes with children
    posterior: np.ndarray      # (parents, R): posterior class probabilities

    def to_json(self, ids) -> dict:
        return {"R": len(self.scales), "scales": self.scales.tolist(), "weights": self.weights.tolist(),
                "loglik": self.loglik, "n_params": self.n_params, "aic": self.aic, "Q": self.Q.tolist(),
                "lrt": {f"{len(self.scales)} rate classes vs 1": self.test},
                "parents": {str(ids[p]): row.round(6).tolist() for p, row in zip(self.parents, self.posterior)}}

    def lines(self) -> list[str]:
        t = self.test
        best = np.bincount(self.posterior.argmax(axis=1), minlength=len(self.scales))
        return ["", f"Hidden rate classes of parents ({len(self.scales)}; the edges to a parent's children "
                f"move by scale_r x Q): log-likelihood {self.loglik:.2f}, {self.n_params} parameter(s), "
                f"AIC {self.aic:.1f} (one class: {self.single.loglik:.2f})",
                *(f"  class {r}: scale {s:.3g}, weight {w:.3f}, most probable class of {c:,} parents"
                  for r, (s, w, c) in enumerate(zip(self.scales, self.weights, best))),
                f"  LRT against one class: {lrt_text(t)} (a weight or scale on its bound makes the chi-squared "
                "p approximate: prefer the bootstrap p)"]


def _unpack(rm, x, R):
    m = rm.m
    scales = np.exp(np.r_[0.0, x[m:m + R - 1]])
    logits = np.r_[0.0, x[m + R - 1:]]
    w = np.exp(logits - logits.max())
    return rm.q(x[:m]), scales, w / w.sum()


def fit_rate_classes(lineage: Lineage, states, lengths, model, k: int, R: int = 2,
                     root_prior: str = "equal", starts: int = 2, seed: int = 1,
                     single: MkFit | None = None, bootstrap: int = 0) -> RateClassFit:
    """Maximum-likelihood R-class model (Q of ``model``, R-1 scales, R-1 weights) and its LRT
    against one class (``single``, fitted if not given); with ``bootstrap`` N, also the
    parametric-bootstrap p under the one-class fit."""
    if R < 2:
        raise ValueError("--rate-classes needs R >= 2")
    states = np.asarray(states, np.int64)
    if single is None:
        single = fit_mk(lineage, states, lengths, model, root_prior, starts=starts, seed=seed, k=k)
    fit = _fit(lineage, states, lengths, model, k, R, root_prior, starts, single)
    fit.single = single
    fit.test = lrt_test(single, fit, DETECTS)
    if bootstrap:
        def refit(sim):
            one = fit_mk(lineage, sim, lengths, model, root_prior, starts=1, k=k)
            return lrt(one, _fit(lineage, sim, lengths, model, k, R, root_prior, 1, one))[0]
        fit.test["bootstrap_p"], _ = bootstrap_p(
            fit.test["statistic"], lambda rng: simulate_like(lineage, states, lengths, single.Q, root_prior, rng),
            refit, bootstrap, seed)
        fit.test["replicates"] = bootstrap
    return fit


def _fit(lineage, states, lengths, model, k, R, root_prior, starts, single) -> RateClassFit:
    data = RateClassData(lineage, states, lengths, k)
    rm = rate_model(model, k)
    x1 = _start_x(rm, single)
    edge = np.asarray(lengths, float)[lineage.parent >= 0]
    mean_len = float(edge.mean()) if len(edge) and edge.mean() > 0 else 1.0
    bounds = rm.bounds(mean_len) + [(-12.0, 12.0)] * (R - 1) + [(-8.0, 8.0)] * (R - 1)
    lo, hi = np.array(bounds).T

    def nll(x):
        ll = data.passes(*_unpack(rm, x, R), root_prior)[0]
        return -ll if np.isfinite(ll) else IMPOSSIBLE

    def nll_and_grad(x):
        ll, joint, grad = data.passes(*_unpack(rm, x, R), root_prior, up=True)
        g = None if not np.isfinite(ll) else _gradient(rm, x, R, data, joint, grad)
        if g is None:
            return (-ll if np.isfinite(ll) else IMPOSSIBLE), forward_gradient(nll, x)
        return -ll, -g

    def nll_and_numeric(x):
        return nll(x), forward_gradient(nll, x)

    exact = root_prior == "equal" and data.exact_gradient

    best = None
    # starts: the extra classes faster, then slower, than the one-class rate
    for sign in ([1, -1] * starts)[:max(starts, 1)]:
        x = np.r_[x1, sign * np.log(4.0) * np.arange(1, R), np.zeros(R - 1)]
        if sign > 0:                                # class 0 slow: start it below the mean rate
            x[:rm.m] -= rm.scale * np.log(2.0)
        res = minimize_box(nll_and_grad if exact else nll_and_numeric, x, lo, hi)
        if best is None or res.fun < best.fun:
            best = res
    Q, scales, w = _unpack(rm, best.x, R)
    order = np.argsort(scales)
    joint = data.passes(Q, scales, w, root_prior, up=True)[1]
    post = joint[data.parents] - _logsumexp(joint[data.parents])[:, None]
    m = len(best.x)
    return RateClassFit(Q=scales[order[0]] * Q, scales=scales[order] / scales[order[0]], weights=w[order],
                        loglik=-float(best.fun), n_params=m, aic=2 * m + 2 * float(best.fun),
                        single=single, test={}, parents=data.parents, posterior=np.exp(post)[:, order])


def _gradient(rm, x, R, data: RateClassData, joint, grad) -> np.ndarray | None:
    """d ll / d x under the equal root prior from the passes' class posteriors and gradient
    weights (Q_r = scale_r Q: d ll / d Q = sum_r scale_r G_r, d ll / d log scale_r =
    <G_r, Q_r>, d ll / d logit_r = expected parents of class r - w_r x parents), or None
    where Q is not safely diagonalisable."""
    Q, scales, w = _unpack(rm, x, R)
    dec = _eigen(Q)
    if dec is None:
        return None
    ev, v, vi = dec
    G = [class_gradient(sr * Q, (sr * ev, v, vi), data.lu, grad[r]) for r, sr in enumerate(scales)]
    post = np.exp(joint[data.parents])
    post /= post.sum(axis=1, keepdims=True)
    g = np.r_[np.einsum("mij,ij->m", rm.dq(x[:rm.m]), sum(sr * Gr for sr, Gr in zip(scales, G))),
              [np.sum(G[r] * scales[r] * Q) for r in range(1, R)],
              post.sum(axis=0)[1:] - w[1:] * len(data.parents)]
    return g if np.isfinite(g).all() else None


def _start_x(rm, single: MkFit) -> np.ndarray:
    """The optimiser's x of the one-class fit."""
    x = np.log(np.atleast_1d(single.rates))
    if single.pi is not None:
        x = np.r_[x, np.log(single.pi[1:] / single.pi[0])]
    return x
