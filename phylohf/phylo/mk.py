"""The Mk model: a continuous-time Markov chain of one discrete character on a lineage forest.

Conventions (they change the numbers; reports should print them):

* **States** are an int array over nodes: ``0..k-1`` known, ``-1`` unknown. Internal nodes
  are observed models, so a known state anywhere clamps that node's partial likelihood
  to an indicator; an unknown node gets the all-ones partial (it sums over states).
* **Branch lengths** are a float array over nodes: the edge above each node (roots NaN).
  Any non-negative length works; zero-length edges have ``P = I``.
* **Rate matrices** (:mod:`.ratemodels`): ``ER``, ``SYM``, ``ARD`` (as in phytools
  ``fitMk``) or a user index matrix, and the reversible ``F81`` and ``GTR``.
* **Root prior**: ``equal`` (1/k, the phytools ``fitMk`` default), ``stationary`` (the
  stationary distribution of Q), ``fitzjohn`` (proportional to the root's conditional
  likelihoods, FitzJohn et al. 2009).
* A **forest** shares one Q: its log-likelihood is the sum over families (roots).

Pruning is Felsenstein's, in log space (each node's partial is renormalised to max 1 and
its log scale carried up), vectorised over one level at a time, deepest first, of the forest
cut at known nodes (a known state makes its subtree independent of the rest, so the number
of levels is the longest run of unknown nodes, not the depth; :mod:`.schedule`).
Subtrees without any known state contribute exactly 0 and are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..genealogy.lineage import Lineage
from .knownedges import KnownEdges, split_known
from .optim import forward_gradient, minimize_box, minimize_bounded
from .ratemodels import MODELS, index_matrix, n_params, q_matrix, rate_model, stationary
from .schedule import Descent, cut_levels, marked_below

__all__ = ["MODELS", "index_matrix", "n_params", "q_matrix", "stationary", "MkData", "MkFit",
           "fit_mk", "log_likelihood", "lrt", "simulate_states", "transition_matrices"]
ROOT_PRIORS = ("equal", "stationary", "fitzjohn")
_MAX_COND = 1e8
IMPOSSIBLE = 1e300     # the negative log-likelihood standing for -inf while optimising
_FEW_LENGTHS = 64        # gradient: up to this many distinct lengths, work per length class
_GROUP_ROWS = 4096       # rows summed into parents: from this many by bincount, not reduceat,
_SPARSE_ROWS = 65536     # and from this many by a sparse product


# -- reductions over states ---------------------------------------------------------------
def rowmax(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=-1)`` as k - 1 elementwise maxima of columns: numpy reduces a short last
    axis row by row (about 30 ns a row), 20x slower than this for k = 3."""
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        np.maximum(out, a[..., j], out=out)
    return out


def rowsum(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=-1)`` as k - 1 elementwise sums of columns (see :func:`rowmax`)."""
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        np.add(out, a[..., j], out=out)
    return out


# -- transition probabilities --------------------------------------------------------------
def _eigen(Q: np.ndarray):
    """(w, V, V^-1) of Q, or None when V is ill-conditioned (Q not safely diagonalisable)."""
    if np.allclose(Q, Q.T):
        w, v = np.linalg.eigh(Q)
        return w, v, v.T
    w, v = np.linalg.eig(Q)
    if np.linalg.cond(v) > _MAX_COND:
        return None
    return w, v, np.linalg.inv(v)


def _pairs_once(w: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For Re sum_j e^{w_j t} m_j (m: the terms' weights along axis -1, from the eigenvectors of
    a real Q): the eigenvalues to sum, their weights, and which are complex. A complex
    eigenvalue's conjugate term is its conjugate, so only the one with Im w > 0 is kept, twice."""
    if not np.iscomplexobj(w):
        return w, m, np.zeros(len(w), bool)
    keep = w.imag >= 0
    return w[keep], m[..., keep] * np.where(w.imag[keep] > 0, 2.0, 1.0), w.imag[keep] > 0


def _expm_many(Q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(t) = expm(Q t) for a 1-d array of distinct lengths, shape (len(t), k, k)."""
    dec = _eigen(Q)
    if dec is None:
        from scipy import linalg
        p = np.array([linalg.expm(Q * ti) for ti in t]).reshape(len(t), len(Q), len(Q))
    else:
        k = len(Q)
        # P(t) = sum_j e^{w_j t} v_j vi_j^T: the real part of one (len(t), k) @ (k, k^2) product
        w, m, cplx = _pairs_once(dec[0], np.einsum("ij,jk->ikj", dec[1], dec[2]).reshape(k * k, -1))
        e, m = np.exp(np.outer(t, w)), m.T
        if np.iscomplexobj(e) or np.iscomplexobj(m):
            e, m = np.hstack([e.real, e.imag[:, cplx]]), np.vstack([m.real, -m.imag[cplx]])
        p = (e @ m).reshape(len(t), k, k)
        p[t == 0] = np.eye(k)                       # exactly: no change on a zero-length edge
    return np.clip(p, 0.0, 1.0, out=p)


def transition_matrices(Q, t) -> np.ndarray:
    """P(t) = expm(Q t) for every length in ``t``, shape ``t.shape + (k, k)``.

    Uses the eigendecomposition of Q when its eigenvector matrix is well conditioned
    (always for symmetric Q), ``scipy.linalg.expm`` otherwise; identical lengths are
    computed once.
    """
    Q = np.asarray(Q, float)
    t = np.asarray(t, float)
    u, inv = np.unique(t, return_inverse=True)
    return _expm_many(Q, u)[inv.reshape(t.shape)]


def edge_keys(parent: np.ndarray, lengths: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Every edge's class key, group * L + (rank of its length among the L distinct ones), as
    floats over nodes (roots 0), and the distinct lengths: edges of one class share P."""
    edge = parent >= 0
    lu, rank = np.unique(lengths[edge], return_inverse=True)
    key = np.zeros(len(parent))
    g = np.zeros(int(edge.sum()), np.int64) if groups is None else np.asarray(groups, np.int64)[edge]
    key[edge] = g * len(lu) + rank
    return key, lu


def class_transitions(Q, keys: np.ndarray, lu: np.ndarray) -> np.ndarray:
    """P per edge class (keys from :func:`edge_keys`): expm(Q_g t) with Q a (k, k) matrix or a
    (groups, k, k) stack."""
    Q = np.asarray(Q, float)
    Qs = Q[None] if Q.ndim == 2 else Q
    k = Qs.shape[-1]
    keys = np.asarray(keys).astype(np.int64)
    if not len(lu):
        return np.broadcast_to(np.eye(k), (max(len(keys), 1), k, k)).copy()
    group, length = keys // len(lu), lu[keys % len(lu)]
    if len(Qs) == 1:
        return _expm_many(Qs[0], length)
    P = np.empty((len(keys), k, k))
    for g in np.unique(group):
        P[group == g] = _expm_many(Qs[g], length[group == g])
    return P


def entry_transitions(Q, t: np.ndarray, a: np.ndarray, b: np.ndarray, group=None, decs=None) -> np.ndarray:
    """P(t)[a, b] per entry (lengths ``t``, states a -> b) under Q, a (k, k) matrix or one per
    ``group`` (G, k, k), entry by entry: sum_j e^{w_j t} V[a, j] V^-1[j, b] (``decs``: the
    :func:`_eigen` of each Q, when made), or expm per distinct length where V is ill-conditioned."""
    Q = np.asarray(Q, float)
    Qs = Q[None] if Q.ndim == 2 else Q
    decs = [_eigen(q) for q in Qs] if decs is None else decs
    p = np.empty(len(t))
    for g, (q, dec) in enumerate(zip(Qs, decs)):
        sel = np.arange(len(t)) if len(Qs) == 1 else np.flatnonzero(group == g)
        tg, ag, bg = t[sel], a[sel], b[sel]
        if dec is None:
            u, inv = np.unique(tg, return_inverse=True)
            p[sel] = _expm_many(q, u)[inv, ag, bg]
            continue
        w, m, _ = _pairs_once(dec[0], dec[1][:, None, :] * dec[2].T[None, :, :])   # V[a, j] V^-1[j, b]
        p[sel] = np.where(tg == 0, ag == bg, np.einsum("ej,ej->e", np.exp(np.outer(tg, w)), m[ag, bg]).real)
    return np.clip(p, 0.0, 1.0, out=p)


def cut_loglik(known, Q, root_prior: str) -> float:
    """:meth:`.knownedges.KnownEdges.loglik` of the counted edges ``known`` under Q, a (k, k)
    matrix or one per edge group (the first weighs the roots)."""
    Q = np.asarray(Q, float)
    p = entry_transitions(Q, known.t, known.a, known.b, known.group)
    return known.loglik(p, Q if Q.ndim == 2 else Q[0], root_prior)


# -- likelihood ----------------------------------------------------------------------------
def _check(lineage: Lineage, states, lengths) -> tuple[np.ndarray, np.ndarray]:
    states = np.asarray(states, np.int64)
    lengths = np.asarray(lengths, float)
    if states.shape != (lineage.n,) or lengths.shape != (lineage.n,):
        raise ValueError(f"states and lengths must have one entry per node ({lineage.n})")
    edge = lineage.parent >= 0
    if not (np.isfinite(lengths[edge]) & (lengths[edge] >= 0)).all():
        raise ValueError("branch lengths of non-root nodes must be finite and >= 0")
    if (states < -1).any():
        raise ValueError("states must be -1 (unknown) or 0..k-1")
    return states, lengths


class _Level(NamedTuple):
    """One level of the pruning plan; its nodes are sorted by parent."""

    nodes: np.ndarray       # all of them (known and unknown), by parent
    cls: np.ndarray         # their length classes
    unknown: np.ndarray     # the unknown ones, by parent
    positions: np.ndarray   # their positions in MkData.order
    unknown_cls: object     # their length classes (None: one length)
    parents: np.ndarray     # the distinct parents of the unknown ones, in order
    reduce: object          # what sums them into their parents (:func:`_sums_into`)


class _Groups(NamedTuple):
    """Sums rows by group with one ``bincount`` (``groups @ rows``, as a sparse matrix)."""

    group: np.ndarray       # each row's group
    n: int                  # number of groups

    def __matmul__(self, rows: np.ndarray) -> np.ndarray:
        k = rows.shape[1]
        return np.bincount((self.group[:, None] * k + np.arange(k)).ravel(), rows.ravel(),
                           self.n * k).reshape(self.n, k)


def _sums_into(par: np.ndarray):
    """For rows whose parents ``par`` are sorted: (the distinct parents, what sums the rows
    into them: None when each has one row, reduceat starts, :class:`_Groups` or a sparse
    matrix). With many parents reduceat is 2x slower than a sparse product at 600 rows and
    5x at 10,000, a bincount about as fast up to 30,000 rows and 2-3x slower at 100,000;
    scipy.sparse costs 0.1-0.2 s to import, so fewer than ``_SPARSE_ROWS`` rows do without it."""
    n = len(par)
    starts = np.flatnonzero(np.r_[True, par[1:] != par[:-1]]) if n else np.zeros(0, np.int64)
    if len(starts) == n:
        return par, None
    if n < _GROUP_ROWS:
        return par[starts], starts
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    if n < _SPARSE_ROWS:
        return par[starts], _Groups(group, len(starts))
    from scipy import sparse
    return par[starts], sparse.csr_array((np.ones(n), (group, np.arange(n))), shape=(len(starts), n))


def _sum_rows(reduce, rows: np.ndarray) -> np.ndarray:
    """The sums of ``rows`` per parent, by what :func:`_sums_into` gave."""
    if reduce is None:
        return rows
    if isinstance(reduce, np.ndarray):
        return np.add.reduceat(rows, reduce, axis=0)
    return reduce @ rows


def _sum_into(acc: np.ndarray, parents: np.ndarray, reduce, rows: np.ndarray) -> None:
    """acc[parents] += the sums of ``rows`` per parent (:func:`_sums_into`)."""
    acc[parents] += _sum_rows(reduce, rows)


def _levels(lineage: Lineage, nodes: np.ndarray, lengths: np.ndarray, depth: np.ndarray | None = None):
    """Non-root ``nodes`` ordered deepest level first and by parent within a level; levels are
    depths, or ``depth`` (e.g. :func:`.schedule.cut_levels`: any numbering where a node's
    level exceeds its parent's when the pass needs the parent first).

    Returns (nodes, their branch-length class, the distinct lengths, and each level's slice
    ``(lo, hi)``).
    """
    parent = lineage.parent
    depth = lineage.depth if depth is None else depth
    nodes = nodes[np.lexsort((parent[nodes], -depth[nodes]))]
    unique, cls = np.unique(lengths[nodes], return_inverse=True)
    cut = np.r_[0, np.flatnonzero(np.diff(depth[nodes])) + 1, len(nodes)] if len(nodes) else []
    return nodes, cls, unique, list(zip(cut[:-1], cut[1:]))


class MkData:
    """A lineage, its states and branch lengths, prepared once for many likelihood calls.

    The plan keeps only nodes whose subtree holds a known state, by level (deepest first) of
    the forest cut at known nodes (:func:`.schedule.cut_levels`): a known node's message to
    its parent is a column of P whatever lies below it, an unknown node's is P times its
    renormalised partial; messages are summed into parents in log space, and the log
    partial of every known non-root node at its state (the likelihood of its subtree
    given that state) is added to the log-likelihood apart (:meth:`known_logs`).
    """

    def __init__(self, lineage: Lineage, states, lengths, k: int | None = None, groups=None):
        states, lengths = _check(lineage, states, lengths)
        self.k = int(k if k is not None else states.max(initial=0) + 1)
        if (states >= self.k).any():
            raise ValueError(f"states must be < k = {self.k}")
        self.states, self.lengths, self.n = states, lengths, lineage.n
        parent = lineage.parent
        keep = self.informative(lineage, states >= 0)
        self.roots = np.flatnonzero(keep & (parent < 0))
        key, self.lu = edge_keys(parent, lengths, groups)
        nodes, cls, ukey, cuts = _levels(lineage, np.flatnonzero(keep & (parent >= 0)), key,
                                         cut_levels(parent, states >= 0))
        self.keys = ukey.astype(np.int64)           # per edge class: its key (group, length)
        self.unique_lengths = self.lu[self.keys % max(len(self.lu), 1)] if len(self.keys) else ukey
        self.class_group = self.keys // max(len(self.lu), 1)
        self.n_groups = 1 if groups is None else int(np.max(np.asarray(groups)[parent >= 0], initial=0)) + 1
        one = len(self.unique_lengths) == 1
        self.order = np.r_[self.roots, nodes].astype(np.int64)     # positions: roots, then the levels
        base = len(self.roots)
        self.levels = []
        for lo, hi in cuts:
            un = np.flatnonzero(states[nodes[lo:hi]] < 0)
            u = nodes[lo:hi][un]
            parents, reduce = _sums_into(parent[u])
            self.levels.append(_Level(nodes[lo:hi], cls[lo:hi], u, base + lo + un,
                                      None if one else cls[lo:hi][un], parents, reduce))
        # a known node's message to its parent is a column of P, whatever lies below it: all
        # of them go up before the levels, in one step
        known = np.flatnonzero(states[nodes] >= 0)
        known = known[np.argsort(parent[nodes[known]], kind="stable")]
        self.known_nodes, self.known_pos = nodes[known], base + known
        self.known_cls, self.known_states = cls[known], states[nodes[known]]
        self.known_parents, self.known_reduce = _sums_into(parent[self.known_nodes])
        self.known_inner = np.flatnonzero((states >= 0) & (parent >= 0))
        self._leaf = None

    @staticmethod
    def informative(lineage: Lineage, known: np.ndarray) -> np.ndarray:
        """Nodes whose subtree (themselves included) holds a known state."""
        return marked_below(lineage.parent, known)

    def _leaf_logs(self) -> np.ndarray:
        """Initial log partials: 0 for unknown nodes, log indicator for known ones (a fresh
        copy of them, made once)."""
        if self._leaf is None:
            self._leaf = np.where((self.states[:, None] < 0) | (self.states[:, None] == np.arange(self.k)),
                                  0.0, -np.inf)
        return self._leaf.copy()

    @staticmethod
    def _normalise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log partials -> (partials with row max 1, log scale); impossible rows give -inf."""
        amax = rowmax(a)
        part = np.exp(a - np.where(np.isfinite(amax), amax, 0.0)[:, None])
        return part, amax

    def down(self, P: np.ndarray, messages: np.ndarray | None = None) -> np.ndarray:
        """The pruning pass for transition matrices ``P`` (per length class): every node's log
        partial. ``messages`` (positions, k), if given, receives the log message each node sends
        up, by its position in :attr:`order`."""
        PT = P.transpose(0, 2, 1)
        acc = self._leaf_logs()
        with np.errstate(divide="ignore"):
            if len(self.known_nodes):
                logm = np.log(P[self.known_cls, :, self.known_states])     # the column of the known state
                if messages is not None:
                    messages[self.known_pos] = logm
                _sum_into(acc, self.known_parents, self.known_reduce, logm)
            for _, _, un, at, uc, parents, reduce in self.levels:
                if not len(un):
                    continue
                part, scale = self._normalise(acc[un])
                msg = (P[0] @ part.T).T if uc is None else np.einsum("nj,nji->ni", part, PT[uc])
                logm = np.log(msg)
                logm += scale[:, None]
                if messages is not None:
                    messages[at] = logm
                _sum_into(acc, parents, reduce, logm)
        return acc

    def known_logs(self, acc: np.ndarray) -> float:
        """The log-likelihood the known non-root nodes' subtrees add (``acc`` from :meth:`down`)."""
        return float(acc[self.known_inner, self.states[self.known_inner]].sum())

    def transitions(self, Q) -> np.ndarray:
        """P per edge class under Q, one (k, k) matrix or one per group (G, k, k)."""
        return class_transitions(Q, self.keys, self.lu)

    def root_partials(self, Q: np.ndarray, acc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Conditional likelihoods at the informative roots (partials, log scales), of the
        pieces above the known nodes (:meth:`known_logs` holds the rest); ``acc``: a
        :meth:`down` under Q already made."""
        acc = self.down(self.transitions(Q)) if acc is None else acc
        return self._normalise(acc[self.roots])

    def loglik(self, Q, root_prior: str = "equal") -> float:
        """Log-likelihood of the data under Q (one per edge group: (G, k, k)), summed over
        families."""
        Q = np.asarray(Q, float)
        if Q.ndim == 3 and root_prior == "stationary":
            raise ValueError("one Q per edge group has no single stationary root prior")
        acc = self.down(self.transitions(Q))
        part, scale = self.root_partials(Q, acc)
        if root_prior == "equal":
            w = np.full(part.shape, 1.0 / self.k)
        elif root_prior == "stationary":
            w = np.broadcast_to(stationary(Q), part.shape)
        elif root_prior == "fitzjohn":
            total = rowsum(part)
            w = part / np.where(total > 0, total, 1.0)[:, None]
        else:
            raise ValueError(f"root_prior must be one of {ROOT_PRIORS}, not {root_prior!r}")
        with np.errstate(divide="ignore"):
            return float(np.sum(scale + np.log(rowsum(w * part)))) + self.known_logs(acc)


def log_likelihood(lineage: Lineage, states, Q, lengths, root_prior: str = "equal") -> float:
    """Log-likelihood of ``states`` (-1 unknown) on ``lineage`` under rate matrix Q.

    Known states clamp any node, tip or internal; unknown ones are summed over. The forest
    shares Q and its log-likelihood is the sum over families; ``root_prior`` is ``equal``,
    ``stationary`` or ``fitzjohn``.
    """
    Q = np.asarray(Q, float)
    return MkData(lineage, states, lengths, k=len(Q)).loglik(Q, root_prior)


# -- simulation ----------------------------------------------------------------------------
def simulate_states(lineage: Lineage, Q, lengths, root, rng: np.random.Generator,
                    fixed=None, groups=None) -> np.ndarray:
    """Draw a state for every node down the forest under Q, one depth level at a time (deep
    forests by bands of levels, :class:`.schedule.Descent`, with the same draws).

    ``root`` is a fixed root state (int) or a prior vector over the k states; ``fixed`` (per
    node, -1 = draw) keeps the given states of roots (e.g. the observed ones); with
    ``groups`` (an int per node), Q holds one matrix per edge group.
    """
    Q = np.asarray(Q, float)
    k = Q.shape[-1]
    order = np.argsort(lineage.depth, kind="stable")
    states = np.empty(lineage.n, np.int64)
    roots = np.flatnonzero(lineage.depth == 0)
    if np.ndim(root) == 0:
        states[roots] = int(root)
    else:
        states[roots] = rng.choice(k, size=len(roots), p=np.asarray(root, float))
    if fixed is not None:
        given = np.asarray(fixed, np.int64)[roots]
        states[roots] = np.where(given >= 0, given, states[roots])
    key, lu = edge_keys(lineage.parent, np.asarray(lengths, float), groups)
    u, cls_of = np.unique(key, return_inverse=True)
    cum = np.cumsum(class_transitions(Q, u, lu), axis=2)

    def step(nodes, x, draw):
        c = cum[cls_of[nodes][:, None, None], x]          # (m, 1, j, k)
        return np.minimum((draw[:, :, None, None] > c).sum(axis=3), k - 1)

    inner = order[len(roots):]
    descent = Descent(lineage.parent, inner, lineage.depth[inner])
    return descent(states[:, None], k, step, rng.random((len(inner), 1)))[:, 0]


# -- fitting -------------------------------------------------------------------------------
@dataclass
class MkFit:
    """A maximum-likelihood Mk fit."""

    model: object          # "ER", "F81", "SYM", "GTR", "ARD" or the user index matrix
    Q: np.ndarray          # (k, k), or (groups, k, k) with one Q per edge group
    rates: np.ndarray      # the free rates (exchangeabilities for GTR, mu for F81), as index_matrix
    loglik: float
    n_params: int          # rates, plus k-1 frequencies for GTR and F81
    aic: float
    root_prior: str
    k: int
    pi: np.ndarray | None = None   # GTR, F81: the fitted stationary frequencies
    at_bound: int = 0              # parameters on a bound of the search (chi-square law breaks)


def _change_rates(states: np.ndarray, lengths: np.ndarray, parent: np.ndarray, k: int,
                  edges=True) -> np.ndarray:
    """Raw (k, k) rates from parent->child changes on edges (those above the nodes ``edges``)
    with both ends known (+ pseudocounts): changes i -> j over the time spent in i; the fits
    start from them."""
    child = np.flatnonzero((parent >= 0) & (states >= 0) & edges)
    child = child[states[parent[child]] >= 0]
    a, b = states[parent[child]], states[child]
    counts = np.zeros((k, k))
    np.add.at(counts, (a, b), 1.0)
    exposure = np.bincount(a, weights=lengths[child], minlength=k)
    raw = (counts + 0.5) / (exposure[:, None] + 1.0)
    np.fill_diagonal(raw, 0.0)
    return raw


# -- exact gradient of the log-likelihood ---------------------------------------------------
# d ll / d P_v[a, b] = U_v[a] L_v[b] for the edge above v, where L_v is v's partial (inside)
# and U_v the derivative of ll by v's message to its parent (outside of p, times p's clamp
# and its other children's messages), got by an up pass in log space. With Q = V diag(w) V^-1,
# dP(t) = V ((V^-1 dQ V) o F(t)) V^-1, F_ij = (e^{w_i t} - e^{w_j t}) / (w_i - w_j) (t e^{w_i t}
# when equal), so sum_v <dP_v, U_v L_v^T> = <dQ, V^-T H V^T> with
# H = sum_v F(t_v) o ((V^T U_v) (V^-1 L_v)^T), a few (k x n) @ (n x k) products.
class _UpLevel(NamedTuple):
    """One level of the up pass, by position."""

    rows: slice             # its positions
    parents: np.ndarray     # their parents' positions
    free: np.ndarray        # its rows of unknown state (offsets in the level)
    cls: np.ndarray         # their length classes
    class_rows: object      # and those per class (:func:`_class_rows`)


class _GradPlan(NamedTuple):
    """MkData's pruning levels laid out by position: roots first, then each level's nodes
    (deepest level last), so a level's rows are one slice."""

    levels: list            # of _UpLevel, deepest last
    order: np.ndarray       # node of every position (roots, then the non-root nodes)
    nroot: int              # number of roots
    lengths: np.ndarray     # edge lengths of the non-root positions
    classes: object         # per length class, the non-root rows in it (None if many lengths)
    classes_all: np.ndarray  # the length class of every non-root row
    known: np.ndarray       # the known non-root positions
    clamp: np.ndarray       # their log indicators (known, k)
    free: np.ndarray        # per position: its state is unknown


def _class_rows(cls: np.ndarray, nclass: int):
    """Per length class, the rows of ``cls`` in it (only when the lengths are few): all of
    them (a slice, no copies) when there is one class."""
    if nclass > _FEW_LENGTHS:
        return None
    present = np.unique(cls)
    if len(present) == 1:
        return [(int(present[0]), slice(None))]
    return [(c, np.flatnonzero(cls == c)) for c in present.tolist()]


def _grad_plan(data: MkData, parent: np.ndarray) -> _GradPlan:
    nclass = len(data.unique_lengths)
    order = data.order
    pos = np.full(data.n, -1, np.int64)
    pos[order] = np.arange(len(order))
    free = data.states[order] < 0
    levels, lo = [], len(data.roots)
    for lev in data.levels:
        rows = slice(lo, lo + len(lev.nodes))
        f = np.flatnonzero(free[rows])
        levels.append(_UpLevel(rows, pos[parent[lev.nodes]], f, lev.cls[f], _class_rows(lev.cls[f], nclass)))
        lo = rows.stop
    cls = np.concatenate([lev.cls for lev in data.levels]) if data.levels else np.zeros(0, np.int64)
    known = len(data.roots) + np.flatnonzero(~free[len(data.roots):])
    clamp = np.where(data.states[order[known]][:, None] == np.arange(data.k), 0.0, -np.inf)
    return _GradPlan(levels, order, len(data.roots), data.lengths[order[len(data.roots):]],
                     _class_rows(cls, nclass), cls, known, clamp, free)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis."""
    amax = rowmax(a)
    amax[~np.isfinite(amax)] = 0.0
    with np.errstate(divide="ignore"):
        return np.log(rowsum(np.exp(a - amax[..., None]))) + amax


def _down(data: MkData, plan: _GradPlan, P: np.ndarray):
    """The pruning of :meth:`MkData.down`: every position's log partial as the edge above it
    sees it (a known non-root node's is its clamp: its message leaves its subtree out), its
    message, and the log-likelihood of the known non-root nodes' subtrees."""
    logmsg = np.zeros((len(plan.order), data.k))
    full = data.down(P, logmsg)
    acc = full[plan.order]
    acc[plan.known] = plan.clamp
    return acc, logmsg, data.known_logs(full)


def _up(data: MkData, plan: _GradPlan, P: np.ndarray, acc, logmsg, root_logout, below: bool = True) -> np.ndarray:
    """log U_v (d ll / d message of v to its parent) of every position (roots -inf), from the
    roots' log d ll / d partial ``root_logout``; ``acc`` and ``logmsg`` are by position. A
    known non-root node roots the piece of its subtree, whose log-likelihood enters ll once:
    its log d ll / d log partial is its clamp (``below``), or -inf (a pass that only
    differentiates the roots' term)."""
    both = acc.copy() if below else np.where(plan.free[:, None], acc, -np.inf)
    both[:plan.nroot] = root_logout + acc[:plan.nroot]
    logu = np.full_like(acc, -np.inf)
    one = len(P) == 1
    with np.errstate(divide="ignore", invalid="ignore"):
        for rows, ppos, free, cls, crows in reversed(plan.levels):
            lu = logu[rows]
            np.subtract(both[ppos], logmsg[rows], out=lu)
            np.copyto(lu, -np.inf, where=np.isnan(lu))      # impossible parent states: nothing
            if not len(free):                               # known rows keep their clamp
                continue
            lu = lu[free]
            umax = rowmax(lu)
            umax[~np.isfinite(umax)] = 0.0
            u = np.exp(lu - umax[:, None])
            if one:
                o = u @ P[0]
            elif crows is not None:
                o = np.empty_like(u)
                for c, r in crows:
                    o[r] = u[r] @ P[c]
            else:
                o = np.einsum("na,nab->nb", u, P[cls])
            at = rows.start + free
            both[at] = np.log(o) + (umax[:, None] + acc[at])
    return logu


def _edge_gradient(data: MkData, plan: _GradPlan, Q, dec, acc, logu, group=None) -> np.ndarray:
    """G with sum_edges <dP_v, U_v L_v^T> = <dQ, G> for any dQ (Q = V diag(w) V^-1, or
    ``dec`` None: then G = sum_c t_c L(t_c Q^T, S_c) with L the Frechet derivative of expm,
    for few lengths only); with ``group``, over the edges of that group only."""
    a, logu = acc[plan.nroot:], logu[plan.nroot:]
    classes, t = plan.classes, plan.lengths
    if group is not None and classes is not None:
        classes = [(c, r) for c, r in classes if data.class_group[c] == group]
    elif group is not None:
        sel = data.class_group[plan.classes_all] == group
        a, logu, t = a[sel], logu[sel], t[sel]
    s = rowmax(a)
    s[~np.isfinite(s)] = 0.0
    s = s[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        lin = np.exp(a - s)                         # L_v / its max
        out = np.exp(logu + s)                      # U_v times that max
    if classes is not None:
        # few lengths: sum U_v L_v^T per length class, then the gradient of <P(t_c), S_c>
        s = np.zeros((len(data.unique_lengths), data.k, data.k))
        for c, r in classes:
            s[c] = out[r].T @ lin[r]
        return class_gradient(Q, dec, data.unique_lengths, s)
    return _rows_gradient(dec, t, _real_matmul(out, dec[1]), _real_matmul(lin, dec[2].T))


def _real_matmul(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for a real x and a possibly complex m, as two real products (numpy would
    first copy x to complex and multiply complex numbers: 2.5x slower)."""
    if not np.iscomplexobj(m):
        return x @ m
    out = np.empty((len(x), m.shape[1]), complex)
    out.real = x @ m.real
    out.imag = x @ m.imag
    return out


def _rows_gradient(dec, t: np.ndarray, ut: np.ndarray, lt: np.ndarray) -> np.ndarray:
    """G with sum_e <dP(t_e), U_e L_e^T> = <dQ, G> for any dQ, from the rows ut = V^T U_e
    and lt = V^-1 L_e of edges of lengths t (many distinct lengths: no per-length matrices)."""
    w, v, vi = dec
    e = np.exp(np.outer(t, w))
    diff = w[:, None] - w[None, :]
    tmax = float(t.max(initial=0.0))
    near = (np.abs(diff) * tmax < 1e-2) & ~np.eye(len(w), dtype=bool)
    eu = e * ut
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (eu.T @ lt - ut.T @ (e * lt)) / diff
    np.fill_diagonal(h, np.einsum("ni,ni->i", eu, lt * t[:, None]))      # F_ii = t e^{w_i t}
    if near.any():
        # F_ij = e^{w_i t} (1 - e^{-d t}) / d = e^{w_i t} sum_n (-d)^n t^(n+1) / (n+1)!
        series, term, tcol = 0.0, eu, t[:, None]
        for n in range(5):
            term = term * tcol / (n + 1)                     # e^{w_i t} ut t^(n+1) / (n+1)!
            series = series + (-diff) ** n * (term.T @ lt)
        h = np.where(near, series, h)
    return (vi.T @ h @ v.T).real


def class_gradient(Q, dec, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """G with sum_c <dP(t_c), S_c> = <dQ, G> for any dQ, P(t) = expm(Q t), from the (C, k, k)
    weights ``s`` of the C lengths ``t`` (``dec`` = _eigen(Q), or None: Frechet derivatives)."""
    if dec is None:
        from scipy import linalg
        return sum((tc * linalg.expm_frechet(tc * Q.T, sc, compute_expm=False)
                    for tc, sc in zip(t, s) if sc.any()), np.zeros(Q.shape))
    w, v, vi = dec
    tt = t[:, None, None]
    d = (w[:, None] - w[None, :]) * tt / 2
    small = np.abs(d) < 1e-3
    e = np.exp(np.outer(t, w))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (e[:, :, None] - e[:, None, :]) / (w[:, None] - w[None, :])
    # (nearly) equal eigenvalues: t e^{(w_i + w_j) t / 2} sinh(d) / d, d = (w_i - w_j) t / 2
    f = np.where(small, tt * np.exp((w[:, None] + w[None, :]) * tt / 2)
                 * (1 + d * d / 6 + d ** 4 / 120), f)
    h = np.einsum("cij,cij->ij", f, v.T @ s @ vi.T)
    return (vi.T @ h @ v.T).real


def _known_gradient(known: KnownEdges, weights: np.ndarray, group: int, Q, dec) -> np.ndarray:
    """G of the cut known -> known edges of ``group`` (``weights`` = N / P per entry): per
    class when the lengths are few, else entry by entry (rows of V and V^-1)."""
    mine = np.flatnonzero(known.group == group)
    if not len(mine):
        return np.zeros(Q.shape)
    a, b, wt = known.a[mine], known.b[mine], weights[mine]
    if known.n_classes(group) <= _FEW_LENGTHS:
        c, inv = np.unique(known.cls[mine], return_inverse=True)
        s = np.zeros((len(c), len(Q), len(Q)))
        s[inv, a, b] = wt
        return class_gradient(Q, dec, known.lu[known.keys[c] % max(len(known.lu), 1)], s)
    return _rows_gradient(dec, known.t[mine], dec[1][a] * wt[:, None], dec[2][:, b].T)


def _stationary_grad(Q: np.ndarray, dq: np.ndarray) -> np.ndarray | None:
    """d pi / d theta (m, k) from pi Q = 0, sum pi = 1, or None when pi is not unique."""
    k = len(Q)
    a = np.vstack([Q.T, np.ones(k)])
    if np.linalg.matrix_rank(a) < k:
        return None
    pi = stationary(Q)
    rhs = np.vstack([-(pi @ dq).T, np.zeros(len(dq))])     # (k + 1, m)
    return np.linalg.lstsq(a, rhs, rcond=None)[0].T


def _loglik_and_grad(data: MkData, plan: _GradPlan, model, x: np.ndarray, root_prior: str,
                     known: KnownEdges):
    """(log-likelihood, d ll / d x) for ``model`` (an index matrix, name or RateModel) at the
    optimiser's x (log-rates, and log frequency ratios; one block of them per edge group),
    on ``data`` plus the ``known`` edges cut from it, or (ll, None) when the exact gradient is
    not safe (ill-conditioned eigenvectors, a non-unique stationary distribution, non-finite
    values)."""
    k = data.k
    model = rate_model(model, k)
    xs = np.asarray(x, float).reshape(-1, model.m)
    G = len(xs)
    Qs = np.array([model.q(xg) for xg in xs])
    decs = [_eigen(Q) for Q in Qs]
    P = data.transitions(Qs)
    pk = entry_transitions(Qs, known.t, known.a, known.b, known.group, decs)
    kll = known.loglik(pk, Qs[0], root_prior)
    acc, logmsg, below = _down(data, plan, P)
    root = acc[:plan.nroot]
    if root_prior == "equal":
        logw = np.full(root.shape, -np.log(k))
    elif root_prior == "stationary" and G == 1:
        with np.errstate(divide="ignore"):
            logw = np.broadcast_to(np.log(stationary(Qs[0])), root.shape)
    elif root_prior == "fitzjohn":
        logw = root - _logsumexp(root)[:, None]
    else:
        raise ValueError(f"root_prior must be one of {ROOT_PRIORS} (not stationary with one Q "
                         f"per edge group), not {root_prior!r}")
    llr = _logsumexp(logw + root)
    ll = float(llr.sum()) + below + kll
    if (any(d is None for d in decs) and (plan.classes is None or len(known.keys) > _FEW_LENGTHS)) \
            or not np.isfinite(ll):
        return ll, None
    kw = known.weights(pk)
    if root_prior == "fitzjohn":
        # d ll_r / d L_a = 2 L_a / sum L^2 - 1 / sum L: two up passes, subtracted
        lp = np.log(2.0) + root - _logsumexp(2 * root)[:, None]
        lm = np.broadcast_to(-_logsumexp(root)[:, None], root.shape)
        ups = [(_up(data, plan, P, acc, logmsg, lp), 1.0), (_up(data, plan, P, acc, logmsg, lm, False), -1.0)]
    else:
        ups = [(_up(data, plan, P, acc, logmsg, logw - llr[:, None]), 1.0)]
    grads = []
    for g, (Q, dec, xg) in enumerate(zip(Qs, decs, xs)):
        grp = None if G == 1 else g
        gq = sum(sign * _edge_gradient(data, plan, Q, dec, acc, logu, grp) for logu, sign in ups)
        gq = gq + _known_gradient(known, kw, g, Q, dec)
        dq = model.dq(xg)
        grad = np.einsum("mij,ij->m", dq, gq)
        if root_prior == "stationary":
            dpi = _stationary_grad(Q, dq)
            if dpi is None:
                return ll, None
            post = np.exp(root - llr[:, None]).sum(axis=0)     # sum_r L_r / lik_r
            with np.errstate(divide="ignore", invalid="ignore"):   # the dropped and cut roots' prior
                post = post + np.where(known.roots != 0, known.roots / stationary(Q), 0.0)
            grad = grad + dpi @ post
        grads.append(grad)
    grad = np.concatenate(grads)
    return ll, (grad if np.isfinite(grad).all() else None)


def _impossible_message(states: np.ndarray, lengths: np.ndarray, parent: np.ndarray) -> str:
    """Why no rate gives the data a positive likelihood, and what to do."""
    child = np.flatnonzero((parent >= 0) & (states >= 0))
    child = child[(states[parent[child]] >= 0) & (lengths[child] == 0)]
    changed = int((states[child] != states[parent[child]]).sum())
    return ("the Mk likelihood is zero at every rate tried (log-likelihood -inf), so there is no "
            "fit to report: zero-length branches carry changes"
            + (f" ({changed:,} parent -> child edge(s) of length 0 join different known states)"
               if changed else " (through nodes of unknown state)")
            + "; give every branch a positive length (e.g. unit branch lengths)")


def _prepared(lineage: Lineage, states, lengths, k: int, groups=None) -> tuple[MkData, _GradPlan, KnownEdges]:
    """What the fits evaluate: the data without its known -> known edges, its gradient plan,
    and those edges counted (:mod:`knownedges`)."""
    states, lengths = _check(lineage, states, lengths)
    key, lu = edge_keys(lineage.parent, lengths, groups)
    r = split_known(lineage, states, lengths, groups, key, lu, k, MkData.informative(lineage, states >= 0))
    data = MkData(r.lineage, r.states, r.lengths, k=k, groups=r.groups)
    return data, _grad_plan(data, r.lineage.parent), r.known


def fit_mk(lineage: Lineage, states, lengths, model="ARD", root_prior: str = "equal",
           starts: int = 3, seed: int = 0, k: int | None = None, groups=None, start=None,
           tol: float | None = None) -> MkFit:
    """Maximum-likelihood parameters of ``model`` (a projected quasi-Newton search,
    :func:`.optim.minimize_box`, over bounded log-rates and, for GTR and F81, log frequency
    ratios pi_j / pi_0 within +-12).

    ``k`` defaults to the largest observed state + 1 (the index matrix's size for a user
    model). The first start is the parent->child change rate on edges with both ends known; the
    others perturb it randomly (log-uniform within a factor e^2, seeded); each start is first
    rescaled along the overall rate by a 1-d search, so that the first step cannot run
    off to the flat plateau of saturated rates (P(t) = 1/k); a start that reaches the best
    minimum found so far stops there. Rates are bounded
    to [1e-6, 1e3] per mean edge length. The search gets the exact gradient of the
    log-likelihood (an up pass and the derivative of expm, see ``_loglik_and_grad``), and
    falls back to finite differences where that is unsafe (Q not safely diagonalisable with
    more than ``_FEW_LENGTHS`` distinct lengths, a non-unique stationary distribution).
    Raises ValueError when no rate gives the data a positive likelihood (zero-length branches
    carrying changes): a fit is never reported with a non-finite log-likelihood.

    ``groups`` (an int per node, 0..G-1, read on non-roots) gives every edge group its own Q
    of ``model`` (e.g. one per relation type), all sharing the root prior; then ``Q`` is
    (G, k, k) and ``rates`` (G, m).

    ``start`` (a Q, or one per group) replaces the first start, without its rescaling: a
    nested smaller model's fit (the optimum can then only improve on it) or the truth of a
    simulated replicate. ``tol`` stops the search once an iteration gains less than that
    much log-likelihood (default: a relative 2.2e-9 of it, as L-BFGS-B).
    """
    states, lengths = _check(lineage, states, lengths)
    k = int(len(model) if not isinstance(model, str) else k if k is not None else states.max(initial=0) + 1)
    data, plan, known = _prepared(lineage, states, lengths, k, groups)
    rm = rate_model(model, data.k)
    if rm.n_rates == 0:
        raise ValueError("the model has no free rates" + (f" ({data.k} state: a character needs two or "
                                                          "more observed states to change)" if data.k < 2 else ""))
    G = 1 if groups is None else int(np.max(np.asarray(groups)[lineage.parent >= 0], initial=0)) + 1
    if G > 1 and root_prior == "stationary":
        raise ValueError("one Q per edge group has no single stationary root prior: use the equal "
                         "or fitzjohn root prior")
    m = rm.m * G
    edge = lengths[lineage.parent >= 0]
    mean_len = float(edge.mean()) if len(edge) and edge.mean() > 0 else 1.0
    bounds = rm.bounds(mean_len) * G
    lo, hi = np.array(bounds).T
    scale = np.tile(rm.scale, G)
    rng = np.random.default_rng(seed)
    group = np.zeros(lineage.n, np.int64) if groups is None else np.asarray(groups, np.int64)
    if start is None:
        freq = np.bincount(states[states >= 0], minlength=k) + 0.5      # the known states' frequencies
        x0 = np.concatenate([rm.start(_change_rates(states, lengths, lineage.parent, k, group == g), freq / freq.sum())
                             for g in range(G)])
    else:
        start = np.broadcast_to(np.asarray(start, float), (G, data.k, data.k))
        with np.errstate(divide="ignore"):
            x0 = np.concatenate([rm.start(np.maximum(q - np.diag(np.diag(q)), 0.0)) for q in start])
    inits = [x0] + [x0 + rng.uniform(-2, 2, m) for _ in range(starts - 1)]

    def q_of(x):
        return np.array([rm.q(xg) for xg in x.reshape(G, rm.m)]) if G > 1 else rm.q(x)

    def nll(x):
        Q = q_of(x)
        ll = data.loglik(Q, root_prior) + cut_loglik(known, Q, root_prior)
        return -ll if np.isfinite(ll) else IMPOSSIBLE

    def nll_and_grad(x):
        ll, grad = _loglik_and_grad(data, plan, rm, x, root_prior, known)
        if not np.isfinite(ll):
            return IMPOSSIBLE, np.zeros(m)
        if grad is None:                    # exact gradient unsafe here: finite differences
            return -ll, forward_gradient(nll, x)
        return -ll, -grad

    best = None
    for i, x in enumerate(inits):
        if i or start is None:
            x = x + scale * minimize_bounded(lambda c: nll(x + c * scale), -4, 4, xatol=0.1).x
        x = np.clip(x, lo, hi)
        options = {} if tol is None else {"ftol": tol / max(abs(nll(x)), 1.0)}
        res = minimize_box(nll_and_grad, x, lo, hi, known=best, **options)
        if best is None or res.fun < best.fun:
            best = res
    if not best.fun < IMPOSSIBLE:
        raise ValueError(_impossible_message(states, lengths, lineage.parent))
    parts = [rm.split(xg) for xg in best.x.reshape(G, rm.m)]
    rates = parts[0][0] if G == 1 else np.array([r for r, _ in parts])
    pi = parts[0][1] if G == 1 or parts[0][1] is None else np.array([p for _, p in parts])
    ll = -float(best.fun)
    return MkFit(model=model, Q=q_of(best.x), rates=rates, loglik=ll, n_params=m,
                 aic=2 * m - 2 * ll, root_prior=root_prior, k=data.k, pi=pi,
                 at_bound=_at_bound(best.x, lo, hi))


def _at_bound(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> int:
    """How many parameters sit on (within 1e-3 in log units of) a bound of the search."""
    return int(((x - lo < 1e-3) | (hi - x < 1e-3)).sum())


def lrt(fit_small: MkFit, fit_big: MkFit) -> tuple[float, int, float]:
    """Likelihood-ratio test of nested fits: (2 * delta loglik, delta params, chi-square p)."""
    stat = max(0.0, 2.0 * (fit_big.loglik - fit_small.loglik))
    df = fit_big.n_params - fit_small.n_params
    if df <= 0:
        raise ValueError("fit_big must have more parameters than fit_small")
    from scipy import stats           # scipy.stats takes a second to import
    return stat, df, float(stats.chi2.sf(stat, df))
