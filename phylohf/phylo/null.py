"""The null engine: a character re-simulated down the observed trees under a fitted null.

A claim is tested by a statistic T, computed by one function on the observed character
and on R replicates drawn under a null model fitted to the same data:
p = (1 + #{T* >= T}) / (1 + R), larger T meaning more of the claimed effect.

The null model, per generation (unit branch lengths):

* one rate matrix Q_g per relation type g of the edge above a node, estimated from the
  primary edges with both states known: with n_a edges leaving state a, N_ab of them
  ending in b, ``ARD`` takes q_ab = N_ab / n_a and ``SYM`` q_ab = q_ba =
  (N_ab + N_ba) / (n_a + n_b), the maximum-likelihood rates of the one-step Poisson
  approximation, the second with no direction (each pair exchanges at one rate); ``GTR``
  the reversible rates q_ab = s_ab pi_b (s symmetric) maximising that likelihood
  (:func:`reversible`), a process with no net flow at equilibrium whatever its frequencies;
* hidden rate classes of parents: a parent is in class c with weight w_c and the edges to
  all its children move by one generation at scale s_c (a copying parent, an editing
  parent): state a changes with probability 1 - exp(-s_c q_a), by one jump to b with
  probability q_ab / q_a (:func:`_step`);
  (s, w) maximise the likelihood of the edges with both states known, each parent's class
  summed over (its children's edges share it).

A replicate keeps what the data fix: the first declared model of every lineage (a
declared root, or a declared model below undeclared ancestors) keeps its observed state
(the founders: what came before them is not seen, and their descendants are), every parent
draws its class, every child its state from its row; a node unknown in the data is
unknown in the replicate, so exactly the declared nodes are declared. Nodes of
single-model families are not simulated (nothing descends from them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..genealogy.lineage import Lineage, _jump
from .byrelation import relation_groups
from .optim import minimize_box
from .parallel import in_chunks
from .schedule import Descent, marked_above, marked_below

KINDS = ("SYM", "GTR", "ARD")
CHUNK_CELLS = 10_000_000      # node x replicate cells of one chunk of replicates (one per core at once)
MAX_FIT_EDGES = 400_000       # edges the rate classes are fitted on (parents sampled beyond)
BLOCK_CELLS = 1 << 16         # node x replicate cells whose maps are drawn at once (in cache)
BUCKETS = 4096                # of the uniform of a draw, each with its map unless an interval starts inside


@dataclass
class NullModel:
    kind: str                  # "SYM" (no direction), "GTR" (reversible) or "ARD"
    Q: np.ndarray              # (G, k, k) per relation group, per generation
    relations: list[str]       # name of every group
    group: np.ndarray          # per node: group of the edge above it (-1 roots)
    scales: np.ndarray         # (C,) rate-class multipliers, ascending
    weights: np.ndarray        # (C,)

    def text(self) -> str:
        classes = ", ".join(f"x{s:.3g} ({w:.0%})" for s, w in zip(self.scales, self.weights))
        return (f"{self.kind} per relation ({', '.join(self.relations) or 'none'}), rate classes of parents "
                f"{classes}, founders as observed, declared nodes as observed")

    def transitions(self) -> np.ndarray:
        """(G, C, k, k): P of an edge of group g below a parent of class c."""
        return np.stack([_step(q, self.scales) for q in self.Q])


def _step(q: np.ndarray, scales) -> np.ndarray:
    """(C, k, k): one generation at each scale s: state a changes with probability
    1 - exp(-s q_a) (q_a its exit rate), by one jump, to b with probability q_ab / q_a. For
    small rates this is I + s Q (symmetric when Q is); unlike expm(s Q) a fast class does
    not spread its changes over several jumps, which would make siblings' independent
    changes coincide less often than a generation of edits does."""
    exit_ = -np.diag(q)
    jump = np.divide(q, exit_[:, None], out=np.zeros_like(q), where=exit_[:, None] > 0)
    np.fill_diagonal(jump, 0)
    m = 1 - np.exp(-np.asarray(scales, float)[:, None] * exit_[None, :])
    return (1 - m)[:, :, None] * np.eye(len(q)) + m[:, :, None] * jump


def reversible(counts: np.ndarray, iterations: int = 2000, tol: float = 1e-10) -> np.ndarray:
    """The reversible off-diagonal rates q_ab = s_ab pi_b (s symmetric) maximising the one-step
    Poisson likelihood sum_ab N_ab log q_ab - n_a q_ab of (..., k, k) count matrices (n_a the
    edges leaving a). For given pi, s_ab = M_ab / D_ab with M_ab = N_ab + N_ba and D_ab =
    n_a pi_b + n_b pi_a; pi then solves C_j = pi_j sum_b M_jb n_b / D_jb (C_j the changes into
    j), by that fixed point (the MM iteration of a Bradley-Terry model; the profile likelihood
    is concave in log pi)."""
    c = np.asarray(counts, float)
    k = c.shape[-1]
    N = c * (1 - np.eye(k))
    n, M, C = c.sum(axis=-1), N + np.swapaxes(N, -1, -2), N.sum(axis=-2)
    pi = np.ones(n.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            D = n[..., :, None] * pi[..., None, :] + n[..., None, :] * pi[..., :, None]
            denom = np.where(M > 0, M * n[..., None, :] / D, 0.0).sum(axis=-1)
            new = np.where(denom > 0, C / denom, pi)
            new /= new.sum(axis=-1, keepdims=True)
            done = np.abs(new - pi).max() < tol
            pi = new
            if done:
                break
        D = n[..., :, None] * pi[..., None, :] + n[..., None, :] * pi[..., :, None]
        return np.where(M > 0, M / D, 0.0) * pi[..., None, :]


def irreversibility(parent: np.ndarray, k: int, lut=None):
    """Statistic: the likelihood ratio of ARD against GTR one-step rates (:func:`reversible`)
    on the primary edges with both states known, 2 sum_ab N_ab log(q^ARD_ab / q^GTR_ab); 0 for
    two states (every two-state chain is reversible)."""
    def statistic(S):
        c = pair_counts(parent, S, k, lut).astype(float)
        N = c * (1 - np.eye(k))
        ard = N / np.maximum(c.sum(axis=-1, keepdims=True), 1)
        gtr = reversible(c)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * np.where(N > 0, N * np.log(ard / gtr), 0.0).sum(axis=(1, 2))
    return statistic


def rates(counts: np.ndarray, kind: str) -> np.ndarray:
    """Q from a (k, k) parent-state x child-state count matrix (see the module docstring)."""
    n = counts.sum(axis=1).astype(float)
    if kind == "ARD":
        q = np.divide(counts, n[:, None], out=np.zeros(counts.shape), where=n[:, None] > 0)
    elif kind == "GTR":
        q = reversible(counts)
    else:
        pair = n[:, None] + n[None, :]
        q = np.divide(counts + counts.T, pair, out=np.zeros(counts.shape), where=pair > 0)
    np.fill_diagonal(q, 0)
    np.fill_diagonal(q, -q.sum(axis=1))
    return q


def _known_edges(parent, states, group):
    child = np.flatnonzero(parent >= 0)
    a, b = states[parent[child]], states[child]
    ok = (a >= 0) & (b >= 0)
    return child[ok], a[ok], b[ok], group[child[ok]]


def fit_null(lineage: Lineage, states, k: int, kind: str = "SYM", parent=None, classes: int = 2,
             seed: int = 0) -> NullModel:
    """The null model of ``states`` (-1 unknown, else 0..k-1) over the primary edges of
    ``parent`` (default the lineage's; pass a relation-restricted copy to keep only some
    edge types): per-relation Q of ``kind`` and ``classes`` hidden rate classes of parents."""
    if kind not in KINDS:
        raise ValueError(f"unknown null kind {kind!r}: choose one of {', '.join(KINDS)}")
    states = np.asarray(states, np.int64)
    parent = lineage.parent if parent is None else np.asarray(parent, np.int64)
    group, names = relation_groups(lineage, parent)
    child, a, b, g = _known_edges(parent, states, group)
    G = max(len(names), 1)
    counts = np.zeros((G, k, k))
    np.add.at(counts, (g, a, b), 1)
    Q = np.stack([rates(c, kind) for c in counts])
    scales, weights = _fit_classes(Q, parent[child], a, b, g, classes, np.random.default_rng(seed))
    return NullModel(kind, Q, names, group, scales, weights)


def _fit_classes(Q, par, a, b, g, C, rng):
    """(scales, weights) maximising the likelihood of the known edges, each parent's class
    summed over; edges of at most MAX_FIT_EDGES, whole parents sampled beyond."""
    if C < 2 or not (a != b).any():                 # one class, or nothing ever changes
        return np.ones(1), np.ones(1)
    if len(par) > MAX_FIT_EDGES:
        uniq = dense_codes(par)[0]
        keep = np.isin(par, rng.choice(uniq, int(len(uniq) * MAX_FIT_EDGES / len(par)), replace=False))
        par, a, b, g = par[keep], a[keep], b[keep], g[keep]
    pidx = dense_codes(par)[1]
    n_par, k = int(pidx.max()) + 1, Q.shape[1]
    code, inv = dense_codes((g.astype(np.int64) * k + a) * k + b)
    triple = np.stack([code // (k * k), code // k % k, code % k])
    per_parent = sp.csr_matrix((np.ones(len(inv)), (pidx, inv)), shape=(n_par, len(code)))  # edges by triple
    exit_ = -np.stack([np.diag(q) for q in Q])[triple[0], triple[1]]      # q_a of every triple
    stay = triple[1] == triple[2]

    def logp(scale):
        """log P of every triple at ``scale`` and its derivative by log scale (:func:`_step`)."""
        P = np.stack([_step(q, [scale])[0] for q in Q])
        sq = scale * exit_
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(stay, -sq, sq / np.expm1(sq))
        return np.log(np.clip(P[triple[0], triple[1], triple[2]], 1e-300, 1.0)), np.nan_to_num(d)

    def nll(x):
        scales, logw = np.exp(x[:C]), x[C:] - np.logaddexp.reduce(x[C:])
        lp = [logp(s) for s in scales]
        per = per_parent @ np.stack([v for v, _ in lp], axis=1) + logw
        ll = np.logaddexp.reduce(per, axis=1)
        post = np.exp(per - ll[:, None])                            # each parent's class posterior
        dscale = np.sum(post * (per_parent @ np.stack([d for _, d in lp], axis=1)), axis=0)
        return -float(ll.sum()), -np.r_[dscale, post.sum(axis=0) - n_par * np.exp(logw)]

    x0 = np.r_[np.log(np.geomspace(0.3, 3.0, C)), np.zeros(C)]
    res = minimize_box(nll, x0, np.r_[np.full(C, -9.0), np.full(C, -12.0)], np.r_[np.full(C, 4.0), np.full(C, 12.0)])
    scales, w = np.exp(res.x[:C]), np.exp(res.x[C:] - np.logaddexp.reduce(res.x[C:]))
    order = np.argsort(scales)
    return scales[order], w[order]


def _depth(lineage: Lineage, parent: np.ndarray) -> np.ndarray:
    return lineage.depth if parent is lineage.parent else _jump(parent)[1]


def _maps(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse-CDF draws of the rows of the (M, k, k) stack as maps of the uniform u: row a
    of matrix g keeps its own state while u < P[g, a, a], then runs through the other states in
    order, so matrix g moves all states by one map between two consecutive cumulative
    probabilities of its rows. Returns the maps, flat (k child states from k * a map's index);
    per g and bucket [b, b + 1) / BUCKETS of u, k * the index of its map, -1 where an interval
    starts inside the bucket; and every interval's left end as 2 g + end (increasing, so one
    search of 2 g + u finds u's interval in those buckets)."""
    M, k, _ = P.shape
    order = np.argsort(np.arange(k)[None, :] != np.arange(k)[:, None], axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(P, np.broadcast_to(order, P.shape), axis=2), axis=2)[:, :, :-1]
    lo = np.arange(BUCKETS) / BUCKETS
    ends, maps, table = [], [], np.empty((M, BUCKETS), np.int64)
    for g in range(M):
        left = np.unique(np.r_[0.0, cum[g].ravel()])
        left = left[left < 1]
        table[g] = k * (sum(map(len, ends)) + np.searchsorted(left, lo, "right") - 1)
        table[g, (left[left * BUCKETS % 1 > 0] * BUCKETS).astype(np.int64)] = -1
        ends.append(2 * g + left)
        maps.append(order[np.arange(k), (cum[g][None] <= left[:, None, None]).sum(axis=2)])
    maps = np.concatenate(maps).ravel().astype(np.int8 if k < 128 else np.int32)
    return maps, table.astype(np.int16 if maps.size < 2 ** 15 else np.int32).ravel(), np.concatenate(ends)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, code of each value in them) of non-negative ints, as
    ``np.unique(values, return_inverse=True)`` but by counting (np.unique sorts: slow at
    millions)."""
    seen = np.bincount(values) > 0 if len(values) else np.zeros(0, bool)
    return np.flatnonzero(seen), (np.cumsum(seen) - 1)[values]


def _simulated(parent: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Nodes a replicate draws: below a known node (a founder or a drawn one) and above or
    at a known node (else nothing that is seen depends on them)."""
    return marked_above(parent, known) & marked_below(parent, known)


class Simulator:
    """Replicates of one character under one null model (see the module docstring)."""

    def __init__(self, lineage: Lineage, states, model: NullModel, parent=None):
        self.states = np.asarray(states, np.int64)
        self.parent = lineage.parent if parent is None else np.asarray(parent, np.int64)
        self.model = model
        G, k = len(model.Q), model.Q.shape[-1]
        self.k, self.C = k, len(model.scales)
        drawn = np.flatnonzero(_simulated(self.parent, self.states >= 0))
        depth = _depth(lineage, self.parent)[drawn]
        order = np.argsort(depth, kind="stable")
        self.nodes, self.level = drawn[order], depth[order]
        self.parents, self.parent_row = dense_codes(self.parent[self.nodes])   # each node's parent's row of the classes
        self.descent = Descent(self.parent, self.nodes, self.level, self.states >= 0)
        self.hidden = self.nodes[self.states[self.nodes] < 0]       # drawn, unknown in the data
        self.dtype = np.int16 if k < 2 ** 15 else np.int32
        self.maps, self.table, self.ends = _maps(model.transitions().reshape(G * self.C, k, k))
        self.base = (model.group[self.nodes] * self.C).astype(np.int32)   # matrix of the nodes' edges, class 0

    def draw(self, replicates: int, rng: np.random.Generator) -> np.ndarray:
        """(nodes, replicates) states, -1 where the data are unknown (drawn down the levels by
        :class:`.schedule.Descent`, so deep lineages cost about 2 sqrt(depth) steps): every node
        and replicate draws its uniform u, level by level, and with it the map that takes its
        parent's state to its own (:func:`_maps`)."""
        r, k = replicates, self.k
        S = np.repeat(self.states.astype(self.dtype)[:, None], r, axis=1)      # founders as observed
        cls = np.zeros((len(self.parents), r), np.int8)
        at = np.empty((len(self.nodes), r), self.table.dtype)      # k * the index of every node's map
        rows = max(1, BLOCK_CELLS // r)
        if self.C > 1:                                              # classes by inverse CDF of the weights
            for lo in range(0, len(cls), rows):
                u = rng.random(cls[lo:lo + rows].shape)
                cls[lo:lo + rows] = np.sum(u[:, :, None] >= np.cumsum(self.model.weights)[:-1], axis=2)
        for lo in range(0, len(at), rows):
            g = self.base[lo:lo + rows, None] + cls[self.parent_row[lo:lo + rows]]   # the matrix of each cell
            u = rng.random(g.shape)
            a = self.table[g * BUCKETS + (u * BUCKETS).astype(np.int32)]
            inside = np.flatnonzero(a < 0)                          # a bucket an interval starts in
            a.flat[inside] = k * (np.searchsorted(self.ends, 2 * g.flat[inside] + u.flat[inside], "right") - 1)
            at[lo:lo + rows] = a
        self.descent(S, k, lambda v, x, at: np.take(self.maps, at[:, :, None] + x), at)
        S[self.hidden] = -1
        return S


@dataclass
class NullTest:
    statistic: float
    p: float
    null_mean: float
    null_ci: tuple[float, float]
    replicates: int
    model: str
    n_eff: float               # Kish effective number of families behind the statistic
    leave_one_out: dict | None # {"family", "statistic", "p"}: without the family that contributes most

    @property
    def effect(self) -> float:
        return self.statistic - self.null_mean

    def to_json(self) -> dict:
        return {"statistic": self.statistic, "p": self.p, "null_mean": self.null_mean,
                "null_ci": list(self.null_ci), "replicates": self.replicates, "null": self.model,
                "effect": self.effect, "n_eff": self.n_eff, "leave_one_out": self.leave_one_out}


def family_weights(lineage: Lineage, states, parent=None) -> np.ndarray:
    """Per family (root index): its primary edges with both states known that change state."""
    parent = lineage.parent if parent is None else parent
    child = np.flatnonzero(parent >= 0)
    a, b = states[parent[child]], states[child]
    changed = child[(a >= 0) & (b >= 0) & (a != b)]
    return np.bincount(lineage.root[changed], minlength=lineage.n).astype(float)


def null_test(lineage: Lineage, states, model: NullModel, statistic, replicates: int, seed: int,
              parent=None, weights: np.ndarray | None = None):
    """Test the claim that ``statistic`` (an (n, R) state array -> (R,) values) is larger in
    the data than under ``model``; also without the family of largest weight (``weights``
    per family root; default: the changes it contributes) and Kish's effective number of
    families over those weights. ``statistic`` may be a dict of them, tested on the same
    replicates: then a dict of :class:`NullTest` comes back."""
    stats_ = statistic if isinstance(statistic, dict) else {None: statistic}
    states = np.asarray(states, np.int64)
    w = family_weights(lineage, states, parent) if weights is None else np.asarray(weights, float)
    n_eff = float(w.sum() ** 2 / (w ** 2).sum()) if (w > 0).any() else 0.0
    top = int(np.argmax(w)) if (w > 0).any() else -1
    dropped = np.flatnonzero(lineage.root == top)

    def values(S):
        loo = None
        if top >= 0:
            loo = S.copy()
            loo[dropped] = -1
        return {key: (f(S), f(loo) if top >= 0 else None) for key, f in stats_.items()}

    observed = values(states[:, None])
    sim = Simulator(lineage, states, model, parent)
    chunk = max(1, CHUNK_CELLS // max(lineage.n, 1))
    draws = in_chunks(lambda m, rng: values(sim.draw(m, rng)), replicates, chunk, seed)
    out = {}
    for key in stats_:
        T, T_loo = (float(v[0]) if v is not None else None for v in observed[key])
        null = np.concatenate([d[key][0] for d in draws]) if draws else np.zeros(0)
        p = float((1 + np.sum(null >= T - 1e-12)) / (1 + replicates))
        loo = None
        if top >= 0:
            null_loo = np.concatenate([d[key][1] for d in draws]) if draws else np.zeros(0)
            loo = {"family": str(lineage.ids[top]), "statistic": T_loo,
                   "p": float((1 + np.sum(null_loo >= T_loo - 1e-12)) / (1 + replicates))}
        ci = tuple(np.quantile(null, [0.025, 0.975]).tolist()) if replicates else (np.nan, np.nan)
        out[key] = NullTest(T, p, float(null.mean()) if replicates else np.nan, ci, replicates, model.text(),
                            n_eff, loo)
    return out if isinstance(statistic, dict) else out[None]


# -- statistics over edges, vectorised over replicates --------------------------------------------------
def pair_counts(parent: np.ndarray, S: np.ndarray, k: int, lut=None) -> np.ndarray:
    """(R, k, k) counts of primary edges by (parent state, child state), both known, per
    column of S (nodes x R), the states first mapped by ``lut`` (fine -> lumped, -1 kept)
    when given. Only edges known in the first column can count (the columns share the
    data's unknowns). Rows are gathered whole (np.take), the first column read once."""
    child = np.flatnonzero(parent >= 0)
    up = parent[child]
    first = np.ascontiguousarray(S[:, 0])
    keep = (first[up] >= 0) & (first[child] >= 0)
    a, b = np.take(S, up[keep], axis=0), np.take(S, child[keep], axis=0)
    if lut is not None:
        lut = np.r_[np.asarray(lut, S.dtype), -1]
        a, b = lut[a], lut[b]
    code = a.astype(np.int64) * k + b + np.arange(S.shape[1]) * (k * k)
    return np.bincount(code[(a >= 0) & (b >= 0)], minlength=S.shape[1] * k * k).reshape(S.shape[1], k, k)


def net_flow(parent: np.ndarray, k: int, source, target, lut=None):
    """Statistic: edges from a state in ``source`` to one in ``target`` minus the reverse
    (states of ``lut`` when given)."""
    src, tgt = np.zeros(k, bool), np.zeros(k, bool)
    src[list(source)], tgt[list(target)] = True, True
    forward = src[:, None] & tgt[None, :]

    def statistic(S):
        c = pair_counts(parent, S, k, lut)
        return (c[:, forward].sum(axis=1) - c[:, forward.T].sum(axis=1)).astype(float)
    return statistic


def ordinal_flow(parent: np.ndarray, k: int, lut=None):
    """Statistic: edges moving to a lower state minus edges moving to a higher one."""
    lower = np.tril(np.ones((k, k), bool), -1)

    def statistic(S):
        c = pair_counts(parent, S, k, lut)
        return (c[:, lower].sum(axis=1) - c[:, lower.T].sum(axis=1)).astype(float)
    return statistic
