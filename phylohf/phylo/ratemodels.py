"""Rate matrices of the Mk models and their parametrisations for fitting.

* **Index models** (``ER``, ``SYM``, ``ARD`` or a user index matrix): entry ``(i, j)`` of an
  index matrix holds the 1-based rate parameter of ``i -> j``, 0 for none. ``ER`` has one
  rate, ``SYM`` k(k-1)/2 (numbered along the upper triangle, row-major), ``ARD`` k(k-1)
  (the off-diagonal entries, row-major), as in phytools ``fitMk``.
* **Reversible models**: ``GTR`` has q_ij = s_ij pi_j with s symmetric (k(k-1)/2
  exchangeabilities, numbered as SYM) and pi the stationary frequencies (k-1 free), so
  pi_i q_ij = pi_j q_ji (detailed balance); ``F81`` has q_ij = mu pi_j (one rate, k-1
  frequencies). With pi uniform GTR is SYM (up to a factor k) and F81 is ER; with k = 2
  every chain is reversible and GTR = F81 = ARD.

A :class:`RateModel` maps the optimiser's unconstrained vector x (log rates, and log
frequency ratios pi_j / pi_0 for the reversible models) to Q and to dQ / dx.
"""
from __future__ import annotations

import numpy as np

MODELS = ("ER", "F81", "SYM", "GTR", "ARD")
INDEX_MODELS = ("ER", "SYM", "ARD")
REVERSIBLE = ("F81", "GTR")
_LOG_FREQ_BOUND = 12.0        # |log pi_j / pi_0| <= 12


def index_matrix(model, k: int) -> np.ndarray:
    """The (k, k) integer matrix naming the rate parameter of every transition (0 = none)."""
    if not isinstance(model, str):
        idx = np.asarray(model, np.int64)
        used = np.unique(idx[idx > 0])
        if idx.shape != (k, k) or (idx < 0).any() or np.diag(idx).any() or \
                not np.array_equal(used, np.arange(1, len(used) + 1)):
            raise ValueError(f"a user rate index matrix must be ({k}, {k}), zero on the diagonal, "
                             "and name its rates 1..m without gaps (0 = no transition)")
        return idx
    off = ~np.eye(k, dtype=bool)
    idx = np.zeros((k, k), np.int64)
    if model in ("ER", "F81"):
        idx[off] = 1
    elif model in ("SYM", "GTR"):
        iu = np.triu_indices(k, 1)
        idx[iu] = np.arange(1, len(iu[0]) + 1)
        idx = idx + idx.T
    elif model == "ARD":
        idx[off] = np.arange(1, k * (k - 1) + 1)
    else:
        raise ValueError(f"model must be one of {MODELS} or an index matrix, not {model!r}")
    return idx


def n_params(model, k: int) -> int:
    """Number of free parameters of ``model`` on k states (rates, plus k-1 frequencies for
    the reversible models)."""
    extra = k - 1 if isinstance(model, str) and model in REVERSIBLE else 0
    return int(index_matrix(model, k).max(initial=0)) + extra


def _from_offdiag(r: np.ndarray) -> np.ndarray:
    """Rate matrix (or stack of derivatives) with off-diagonal ``r``: diagonal = -row sums."""
    q = np.array(r, float)
    d = np.arange(q.shape[-1])
    q[..., d, d] = 0.0
    q[..., d, d] = -q.sum(axis=-1)
    return q


def q_matrix(model, rates, k: int, pi=None) -> np.ndarray:
    """The rate matrix Q of ``model`` with the given rates (and frequencies ``pi`` for GTR
    and F81); rows sum to 0."""
    idx = index_matrix(model, k)
    rates = np.asarray(rates, float).reshape(-1)
    if len(rates) != idx.max(initial=0):
        raise ValueError(f"{model!r} on {k} states takes {idx.max(initial=0)} rates, "
                         f"got {len(rates)}")
    r = np.where(idx > 0, np.concatenate([[0.0], rates])[idx], 0.0)
    if isinstance(model, str) and model in REVERSIBLE:
        if pi is None or len(pi) != k:
            raise ValueError(f"{model} needs the {k} state frequencies pi")
        r = r * np.asarray(pi, float)[None, :]
    return _from_offdiag(r)


def stationary(Q: np.ndarray) -> np.ndarray:
    """The stationary distribution pi of Q (pi Q = 0, sum pi = 1)."""
    k = len(Q)
    a = np.vstack([Q.T, np.ones(k)])
    pi = np.linalg.lstsq(a, np.concatenate([np.zeros(k), [1.0]]), rcond=None)[0]
    pi = np.clip(pi, 0, None)
    return pi / pi.sum()


class RateModel:
    """A model's map from the optimiser's vector x to Q, dQ/dx and back to parameters."""

    def __init__(self, model, k: int):
        self.model, self.k = model, k
        self.idx = index_matrix(model, k)
        self.n_rates = int(self.idx.max(initial=0))
        self.reversible = isinstance(model, str) and model in REVERSIBLE
        self.m = self.n_rates + (k - 1 if self.reversible else 0)
        # Q(x + c * scale) = e^c Q(x): the overall-rate direction
        self.scale = np.r_[np.ones(self.n_rates), np.zeros(self.m - self.n_rates)]

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(rates, frequencies or None) of x."""
        x = np.asarray(x, float)
        rates = np.exp(x[:self.n_rates])
        if not self.reversible:
            return rates, None
        y = np.r_[0.0, x[self.n_rates:]]
        pi = np.exp(y - y.max())
        return rates, pi / pi.sum()

    def _offdiag(self, rates, pi) -> np.ndarray:
        r = np.where(self.idx > 0, np.r_[0.0, rates][self.idx], 0.0)
        return r * pi[None, :] if pi is not None else r

    def q(self, x) -> np.ndarray:
        return _from_offdiag(self._offdiag(*self.split(x)))

    def dq(self, x) -> np.ndarray:
        """(m, k, k): dQ / dx."""
        rates, pi = self.split(x)
        r = self._offdiag(rates, pi)
        d = (self.idx[None] == np.arange(1, self.n_rates + 1)[:, None, None]) * r[None]
        if self.reversible:
            # d pi_j / d y_l = pi_j (delta_jl - pi_l), l = 1..k-1
            dpi = np.eye(self.k)[1:] - pi[1:, None]              # (k-1, k): delta_jl - pi_l
            d = np.concatenate([d, r[None] * dpi[:, None, :]])
        return _from_offdiag(d)

    def bounds(self, mean_len: float) -> list[tuple[float, float]]:
        """Rates within [1e-6, 1e3] per mean edge length; |log pi_j / pi_0| <= 12."""
        rate = (np.log(1e-6 / mean_len), np.log(1e3 / mean_len))
        return [rate] * self.n_rates + [(-_LOG_FREQ_BOUND, _LOG_FREQ_BOUND)] * (self.m - self.n_rates)

    def start(self, raw: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
        """x from a raw (k, k) off-diagonal rate estimate (e.g. change counts / exposure) and,
        for the reversible models, state frequencies ``freq`` (default: raw's stationary ones)."""
        m = self.n_rates
        if not self.reversible:
            sums = np.bincount(self.idx.ravel(), weights=raw.ravel(), minlength=m + 1)[1:]
            return np.log(sums / np.bincount(self.idx.ravel(), minlength=m + 1)[1:])
        pi = np.clip(stationary(_from_offdiag(raw)) if freq is None else np.asarray(freq, float), 1e-3, None)
        pi /= pi.sum()
        s = raw / pi[None, :]                                   # q_ij / pi_j, averaged by index
        sums = np.bincount(self.idx.ravel(), weights=(s + s.T).ravel() / 2, minlength=m + 1)[1:]
        rates = sums / np.bincount(self.idx.ravel(), minlength=m + 1)[1:]
        return np.r_[np.log(rates), np.clip(np.log(pi[1:] / pi[0]), -_LOG_FREQ_BOUND, _LOG_FREQ_BOUND)]


def rate_model(model, k: int) -> RateModel:
    """``model`` (a name, an index matrix or a RateModel) as a RateModel on k states."""
    return model if isinstance(model, RateModel) else RateModel(model, k)
