"""Ancestral state reconstruction on lineage forests: Mk marginals and Fitch parsimony.

Conventions (as in :mod:`.mk`): states are ``0..k-1`` known, ``-1`` unknown, at any node
(internal nodes are observed models); branch lengths are the edge above each node; a
forest is reconstructed family by family, each root with the same ``root_prior``
(``equal``, ``stationary``, or ``fitzjohn``: the root's normalised conditional
likelihoods, computed once and then held fixed as the prior, as phytools/corHMM do).

Both methods are true two-pass algorithms, so they hold for directional (non-reversible)
Q: a down pass gives each node's message about its subtree, an up pass (top-down) gives
each node's message about everything outside its subtree. Both run vectorised over one
depth level at a time, without recursion. A parent's product of sibling messages is the
product over all its children divided by the child's own message; messages that are
exactly zero (log -inf) are counted apart, so the division is always exact.

The same passes give each edge's pair posterior (parent state, child state)
(:func:`pair_posteriors`) and joint draws of every unknown state at once, by forward
filtering and backward sampling (:class:`JointSampler`), for sums over edges whose terms
share nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..genealogy.lineage import Lineage
from .knownedges import split_known
from .mk import (ROOT_PRIORS, MkData, _check, _levels, _logsumexp, _sum_rows, _sums_into, class_transitions,
                 cut_loglik, edge_keys, rowmax, stationary)
from .schedule import cut_levels


class _Step(NamedTuple):
    """One level: its nodes sorted by parent, what sums them into their parents."""

    nodes: np.ndarray
    parents: np.ndarray     # parent of every node
    targets: np.ndarray     # distinct parents, in order
    reduce: object          # what sums them into targets (:func:`.mk._sums_into`)
    cls: np.ndarray         # length class of every node
    known: np.ndarray       # the node's state is known and cuts the passes (bool)
    parent_known: np.ndarray


def _plan(lineage: Lineage, lengths: np.ndarray, known: np.ndarray | None = None) -> tuple[list[_Step], np.ndarray]:
    """Levels, deepest first, and the distinct branch lengths the classes index: depth levels,
    or with ``known`` (bool per node) the levels of the forest cut at known nodes
    (:func:`.schedule.cut_levels`), whose known nodes send and receive messages that do
    not depend on the other side."""
    parent = lineage.parent
    cut = np.zeros(lineage.n, bool) if known is None else np.asarray(known, bool)
    nodes, cls, u, cuts = _levels(lineage, np.flatnonzero(parent >= 0), lengths,
                                  None if known is None else cut_levels(parent, cut))
    steps = []
    for lo, hi in cuts:
        v = nodes[lo:hi]
        par = parent[v]
        steps.append(_Step(v, par, *_sums_into(par), cls[lo:hi], cut[v], cut[par]))
    return steps, u


def _apply(P: np.ndarray, cls: np.ndarray, x: np.ndarray, up: bool) -> np.ndarray:
    """Row-wise ``x @ P[cls]`` for up messages, ``P[cls] @ x`` for down messages."""
    if len(P) == 1:
        return x @ (P[0] if up else P[0].T)
    Pc = P[cls].transpose(0, 2, 1) if up else P[cls]
    return np.matmul(Pc, x[:, :, None])[:, :, 0]


def _log_apply(P, cls, logx, up: bool) -> np.ndarray:
    """log of :func:`_apply` on ``exp(logx)``, scaled by the row max to avoid underflow."""
    m = rowmax(logx)
    m[~np.isfinite(m)] = 0.0
    return np.log(_apply(P, cls, np.exp(logx - m[:, None]), up)) + m[:, None]


def _clamp(states: np.ndarray, k: int, off: float) -> np.ndarray:
    """(n, k) array: ``off`` where a known node is not in that state, 0 elsewhere."""
    c = np.zeros((len(states), k))
    known = np.flatnonzero(states >= 0)
    c[known] = off
    c[known, states[known]] = 0.0
    return c


# -- Mk marginals --------------------------------------------------------------------------
@dataclass
class Marginals:
    """Marginal posterior state probabilities of every node under a fixed Q."""

    posterior: np.ndarray  # (n, k), rows sum to 1 (NaN in families impossible under Q)
    map_state: np.ndarray  # (n,) argmax of the posterior (lowest state on ties)
    observed: np.ndarray   # (n,) bool: the state was known (indicator posterior)
    loglik: float          # log-likelihood of the data, as mk.log_likelihood


def _down(steps, P, clamp):
    """Log partials D (n, k) and, per parent, the sum of its children's finite log
    messages F and their count of -inf entries N; messages M (n, k) of non-roots. A cutting
    known node's message is P times its clamp: its subtree's likelihood is
    :func:`_known_logs`."""
    D, M = clamp.copy(), np.zeros_like(clamp)
    F, N = np.zeros_like(clamp), np.zeros_like(clamp)
    for s in steps:
        m = np.empty((len(s.nodes), clamp.shape[1]))
        kn, un = np.flatnonzero(s.known), np.flatnonzero(~s.known)
        m[kn] = np.log(P[s.cls[kn] if len(P) > 1 else 0, :, clamp[s.nodes[kn]].argmax(axis=1)])
        m[un] = _log_apply(P, s.cls[un], D[s.nodes[un]], up=False)
        M[s.nodes] = m
        dead = m == -np.inf
        F[s.targets] = _sum_rows(s.reduce, np.where(dead, 0.0, m))
        N[s.targets] = _sum_rows(s.reduce, dead.astype(float))
        D[s.targets] += np.where(N[s.targets] > 0, -np.inf, F[s.targets])
    return D, M, F, N


def _known_logs(steps, D) -> float:
    """The log-likelihood of the subtrees of the cutting known nodes given their states."""
    return float(sum(D[s.nodes[s.known]].max(axis=1, initial=-np.inf).sum() for s in steps))


def _above(s: _Step, clamp, M, F, N, A) -> np.ndarray:
    """Log P(data outside the subtrees of a level's nodes, their parent's state): the
    parent's outside message and clamp times the messages of the node's siblings (up to a
    constant below a cutting known parent, whose outside message is left out)."""
    p, m = s.parents, M[s.nodes]
    dead = m == -np.inf
    siblings = np.where(N[p] - dead > 0, -np.inf, F[p] - np.where(dead, 0.0, m))
    return np.where(s.parent_known[:, None], 0.0, A[p]) + clamp[p] + siblings


def _up(steps, P, clamp, M, F, N, A, visit=None):
    """Fill the log outside messages A (n, k), log P(data outside v's subtree, v's state),
    top-down from the roots' log priors already in A (not at cutting known nodes); ``visit(step, above)`` sees each
    level's :func:`_above` messages."""
    for s in reversed(steps):
        above = _above(s, clamp, M, F, N, A)
        un = np.flatnonzero(~s.known)               # a cutting known node's own A is never read
        A[s.nodes[un]] = _log_apply(P, s.cls[un], above[un], up=True)
        if visit is not None:
            visit(s, above)
    return A


def _log_root_prior(D: np.ndarray, Q: np.ndarray, root_prior: str) -> np.ndarray:
    """Log root priors of the roots whose log partials are D (call under np.errstate)."""
    if root_prior == "equal":
        return np.full(D.shape, -np.log(D.shape[1]))
    if root_prior == "stationary" and Q.ndim == 2:
        return np.broadcast_to(np.log(stationary(Q)), D.shape)
    if root_prior == "fitzjohn":
        return D - _logsumexp(D)[:, None]
    raise ValueError(f"root_prior must be one of {ROOT_PRIORS}, not {root_prior!r}")


def _checked(lineage: Lineage, states, Q, lengths, groups=None):
    """(Q, k, states, lengths) checked, and the edge class keys and distinct lengths; Q is one
    (k, k) matrix or one per edge group (``groups``: an int per node, read on non-roots)."""
    Q = np.asarray(Q, float)
    k = Q.shape[-1]
    states, lengths = _check(lineage, states, lengths)
    if (states >= k).any():
        raise ValueError(f"states must be < k = {k}")
    return (Q, k, states, lengths, *edge_keys(lineage.parent, lengths, groups))


def _setup(lineage: Lineage, states, Q, lengths, groups=None):
    """Checked (Q, k, states), the level plan, P per edge class and the roots (:func:`_checked`)."""
    Q, k, states, lengths, key, lu = _checked(lineage, states, Q, lengths, groups)
    steps, u = _plan(lineage, key, states >= 0)
    return Q, k, states, steps, class_transitions(Q, u, lu), np.flatnonzero(lineage.parent < 0)


class _Passes(NamedTuple):
    """A down pass and the roots' outside messages: what the up pass and the samplers start from."""

    k: int
    steps: list
    P: np.ndarray          # per edge class
    roots: np.ndarray
    clamp: np.ndarray
    D: np.ndarray          # log partials
    M: np.ndarray
    F: np.ndarray
    N: np.ndarray
    A: np.ndarray          # log outside messages, the roots' log priors filled in
    below: float           # log-likelihood of the cutting known nodes' subtrees


def _down_pass(lineage: Lineage, states, Q, lengths, root_prior: str, groups=None) -> _Passes:
    Q, k, states, steps, P, roots = _setup(lineage, states, Q, lengths, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        clamp = _clamp(states, k, -np.inf)
        D, M, F, N = _down(steps, P, clamp)
        A = np.zeros_like(D)
        A[roots] = _log_root_prior(D[roots], Q, root_prior)
    return _Passes(k, steps, P, roots, clamp, D, M, F, N, A, _known_logs(steps, D))


def _up_pass(ps: _Passes, visit=None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _up(ps.steps, ps.P, ps.clamp, ps.M, ps.F, ps.N, ps.A, visit)


def _scaled(logx: np.ndarray) -> np.ndarray:
    """exp of log rows scaled by each row's max (proportional, not normalised)."""
    m = rowmax(logx)
    m[~np.isfinite(m)] = 0.0
    with np.errstate(invalid="ignore"):
        return np.exp(logx - m[..., None])


def marginal(lineage: Lineage, states, Q, lengths, root_prior: str = "equal", groups=None) -> Marginals:
    """Marginal ancestral states of every node by a two-pass (down, up) algorithm.

    Valid for any Q, reversible or not. The posterior of node v is proportional to
    ``down_v * up_v``, where ``down_v`` is the likelihood of v's subtree given v's state
    and ``up_v`` the likelihood of everything else jointly with v's state; known nodes
    get the indicator of their state. All messages are kept in log space. With ``groups``,
    Q holds one matrix per edge group (e.g. relation type). The passes skip the known
    nodes with nothing unknown below them, whose edges from known parents and root priors
    enter the likelihood counted (:func:`.knownedges.split_known`).
    """
    Q, k, states, lengths, key, lu = _checked(lineage, states, Q, lengths, groups)
    r = split_known(lineage, states, lengths, groups, key, lu, k, np.ones(lineage.n, bool))
    ps = _down_pass(r.lineage, r.states, Q, r.lengths, root_prior, r.groups)
    A = _up_pass(ps)
    post = np.empty((lineage.n, k))
    with np.errstate(divide="ignore", invalid="ignore"):
        joint = A + ps.D
        total = _logsumexp(joint)
        post[r.nodes] = np.exp(joint - total[:, None])
    observed = states >= 0
    post[observed] = np.eye(k)[states[observed]]
    return Marginals(posterior=post, map_state=np.argmax(post, axis=1), observed=observed,
                     loglik=float(total[ps.roots].sum()) + ps.below + cut_loglik(r.known, Q, root_prior))


def _edge_pairs(ps: _Passes, s: _Step, at: np.ndarray, above: np.ndarray):
    """For the level nodes ``at``: scaled outside and inside vectors, the unnormalised pair
    weights ``above[a] P[a, b] down[b]`` (m, k, k) and their sums."""
    lo, d = _scaled(above[at]), _scaled(ps.D[s.nodes[at]])
    pairs = lo[:, :, None] * ps.P[s.cls[at]] * d[:, None, :]
    return lo, d, pairs, pairs.sum(axis=(1, 2))[:, None, None]


def pair_posteriors(lineage: Lineage, states, Q, lengths, children, root_prior: str = "equal") -> np.ndarray:
    """(len(children), k, k): the posterior P(parent in a, child in b | data) of the primary
    edge above each of ``children`` (non-roots), proportional to ``above[a] P[a, b] down[b]``."""
    return JointSampler(lineage, states, Q, lengths, [], root_prior).pairs(children)


class JointSampler:
    """Joint draws of the states of ``nodes`` from their posterior given the known states, by
    forward filtering (the down pass, made once) and backward sampling down the forest: a root
    from prior x partials, each node from ``P[parent's draw, :] x down``. Known nodes cut a
    tree, so only ``nodes`` and their unknown ancestors up to the first known one are drawn;
    known nodes repeat their state."""

    def __init__(self, lineage: Lineage, states, Q, lengths, nodes, root_prior: str = "equal"):
        self.ps = _down_pass(lineage, states, Q, lengths, root_prior)
        self.states = np.asarray(states, np.int64)
        self.parent = lineage.parent
        self.nodes = np.asarray(nodes, np.int64)
        self.need = np.zeros(lineage.n, bool)
        front = self.nodes
        while len(front):                               # unknown ancestors, level by level
            front = front[(self.states[front] < 0) & ~self.need[front]]
            self.need[front] = True
            front = self.parent[front[self.parent[front] >= 0]]
        self.row = np.full(lineage.n, -1)
        self.row[self.need] = np.arange(int(self.need.sum()))

    def draw(self, draws: int, rng: np.random.Generator) -> np.ndarray:
        """(len(nodes), draws) states."""
        ps, states, need, row = self.ps, self.states, self.need, self.row
        X = np.zeros((int(need.sum()), draws), np.int8 if ps.k < 128 else np.int16)
        top = ps.roots[need[ps.roots]]
        if len(top):
            prob = _scaled(ps.A[top] + ps.D[top])
            X[row[top]] = _inverse_cdf(prob[:, None, :], np.zeros((len(top), draws), np.int64), rng)
        chunk = max(1, 2 ** 22 // (draws * ps.k))
        for s in reversed(ps.steps):
            at = np.flatnonzero(need[s.nodes])
            for lo in range(0, len(at), chunk):
                i = at[lo:lo + chunk]
                v = s.nodes[i]
                p = self.parent[v]
                up = np.where((states[p] >= 0)[:, None], states[p][:, None], X[np.maximum(row[p], 0)])
                cond = ps.P[s.cls[i]] * _scaled(ps.D[v])[:, None, :]      # (m, parent state, state)
                X[row[v]] = _inverse_cdf(cond, up, rng)
        out = np.repeat(states[self.nodes][:, None], draws, axis=1).astype(X.dtype)
        free = row[self.nodes] >= 0
        out[free] = X[row[self.nodes[free]]]
        return out

    def pairs(self, children) -> np.ndarray:
        """:func:`pair_posteriors` of the edges above ``children``, from this down pass (the
        up pass fills only the outside messages of non-roots, which draws do not read)."""
        ps = self.ps
        children = np.asarray(children, np.int64)
        pos = np.full(len(self.parent), -1)
        pos[children] = np.arange(len(children))
        out = np.zeros((len(children), ps.k, ps.k))

        def visit(s: _Step, above: np.ndarray) -> None:
            at = np.flatnonzero(pos[s.nodes] >= 0)
            _, _, pairs, z = _edge_pairs(ps, s, at, above)
            out[pos[s.nodes[at]]] = pairs / z

        _up_pass(ps, visit)
        return out


def _inverse_cdf(prob: np.ndarray, pick: np.ndarray, rng) -> np.ndarray:
    """One draw per cell of ``pick`` (m, draws) from row ``pick`` of its node's unnormalised
    rows ``prob`` (m, rows, k): the cumulative rows of every node built once (not per draw),
    offset by their row number into one increasing array, searched once."""
    m, rows, k = prob.shape
    cdf = np.cumsum(prob, axis=2)
    total = cdf[:, :, -1:]
    cdf /= np.where(total > 0, total, 1.0)
    cdf += np.arange(m * rows).reshape(m, rows, 1)
    r = np.arange(m)[:, None] * rows + pick
    col = np.searchsorted(cdf.ravel(), r + rng.random(pick.shape), "right") - r * k
    return np.minimum(col, k - 1)


def posterior_draws(lineage: Lineage, states, Q, lengths, nodes, draws: int, rng: np.random.Generator,
                    root_prior: str = "equal") -> np.ndarray:
    """(len(nodes), draws) joint posterior draws of the states of ``nodes`` (:class:`JointSampler`)."""
    return JointSampler(lineage, states, Q, lengths, nodes, root_prior).draw(draws, rng)


@dataclass
class EdgeExpectations:
    """Posterior expectations of a discrete chain on a forest (an EM's E step)."""

    pairs: np.ndarray      # (classes, k, k): expected parent->child state pairs per edge class
    roots: np.ndarray      # (k,): expected root states
    loglik: float          # log-likelihood of the known states


class EStep:
    """Expected parent->child state pairs, summed over the edges of each class, given the
    known states, when an edge of class c moves by the stochastic matrix ``P[c]`` (one
    generation) and every root draws its state from ``root``: the E step of an EM.

    The level plan, the clamps and the informative nodes are made once; each call runs one
    down and one up pass. Only edges and roots whose subtree holds a known state count: the
    others do not touch the likelihood. Edge v's pair posterior is proportional to
    ``above_v[a] P[a, b] down_v[b]``, summed over a level by one matrix product. Edges with
    both ends known, and known roots with nothing unknown below them, are counted instead
    (:func:`.knownedges.split_known`): the passes run over the rest.
    """

    def __init__(self, lineage: Lineage, states, edge_class, k: int):
        states = np.asarray(states, np.int64)
        edge_class = np.asarray(edge_class, np.int64)
        parent = lineage.parent
        informative = MkData.informative(lineage, states >= 0)
        key = np.where(parent >= 0, edge_class, 0).astype(float)
        r = split_known(lineage, states, np.ones(lineage.n), None, key, np.ones(1), k, informative)
        kn = r.known                                    # one "length": the keys are the classes
        self.cut, self.lone = (kn.keys[kn.cls], kn.a, kn.b, kn.counts), kn.lone
        sub = r.lineage
        self.steps, u = _plan(sub, np.where(sub.parent >= 0, edge_class[r.nodes], 0).astype(float), r.states >= 0)
        self.classes = u.astype(np.int64)
        self.keep = MkData.informative(sub, r.states >= 0)
        self.roots = np.flatnonzero(self.keep & (sub.parent < 0))
        self.real = parent[r.nodes[self.roots]] < 0     # roots of the lineage, not cut children
        with np.errstate(divide="ignore"):
            self.clamp = _clamp(r.states, k, -np.inf)

    def __call__(self, P, root) -> EdgeExpectations:
        P = np.asarray(P, float)
        Pu = P[self.classes] if len(self.classes) else P[:1]
        keep, roots, clamp = self.keep, self.roots, self.clamp
        pairs = np.zeros_like(P)
        cc, ca, cb, cn = self.cut
        np.add.at(pairs, (cc, ca, cb), cn)

        def visit(s: _Step, above: np.ndarray) -> None:
            use = keep[s.nodes]
            lo, d, c = (above, D[s.nodes], s.cls) if use.all() else (above[use], D[s.nodes[use]], s.cls[use])
            lo = np.exp(lo - rowmax(lo)[:, None])
            d = np.exp(d - rowmax(d)[:, None])
            js = np.unique(c)
            for j in js:
                lj, dj = (lo, d) if len(js) == 1 else (lo[c == j], d[c == j])
                lj /= np.einsum("ij,ij->i", lj @ Pu[j], dj)[:, None]
                pairs[self.classes[j]] += Pu[j] * (lj.T @ dj)

        with np.errstate(divide="ignore", invalid="ignore"):
            logroot = np.log(np.asarray(root, float))
            D, M, F, N = _down(self.steps, Pu, clamp)
            A = np.zeros_like(D)
            A[roots[self.real]] = logroot               # a cut child's edge is counted: no prior
            _up(self.steps, Pu, clamp, M, F, N, A, visit)
            joint = A[roots] + D[roots]
            total = _logsumexp(joint)
            top = np.exp(joint[self.real] - total[self.real, None]).sum(axis=0) + self.lone
            counted = float(np.sum(cn * np.log(P[cc, ca, cb]))
                            + np.sum(np.where(self.lone > 0, self.lone * logroot, 0.0)))
        return EdgeExpectations(pairs=pairs, roots=top,
                                loglik=float(total.sum()) + _known_logs(self.steps, D) + counted)


def edge_expectations(lineage: Lineage, states, P, edge_class, root) -> EdgeExpectations:
    """One :class:`EStep`: the expected pairs under ``P`` and ``root``."""
    P = np.asarray(P, float)
    return EStep(lineage, states, edge_class, P.shape[-1])(P, root)


# -- Fitch parsimony -----------------------------------------------------------------------
def fitch(lineage: Lineage, states, k: int | None = None) -> tuple[np.ndarray, int]:
    """Most-parsimonious reconstruction with known states at any node: :func:`sankoff` with
    unit costs.

    Returns ``(state_sets, changes)``: ``changes`` is the minimum number of parent->child
    state changes over all assignments of the unknown states (known ones fixed), summed
    over families; ``state_sets[v, x]`` is True when some assignment reaching that minimum
    gives v the state x (a known node's set is its state; a family without any known
    state allows every state).
    """
    states = np.asarray(states, np.int64)
    k = int(k if k is not None else states.max(initial=0) + 1)
    sets, total = sankoff(lineage, states, 1.0 - np.eye(k))
    return sets, int(round(total))


@dataclass
class Joint:
    """The jointly most likely assignment of every unknown state (Pupko et al. 2000)."""

    state: np.ndarray     # (n,) int; known nodes keep their state
    loglik: float         # log probability of the whole assignment, root prior included


def joint(lineage: Lineage, states, Q, lengths, root_prior: str = "equal") -> Joint:
    """Joint ancestral states by Pupko et al.'s (2000) dynamic programme, in log space.

    Down pass: for every non-root v and parent state i, the best log probability of v's
    subtree ``max_j log P_ij(t_v) + C_v(j)`` and its argmax, where ``C_v`` sums v's clamp
    and its children's best scores; the root takes ``argmax log pi + C``. Traceback from
    the roots down. ``fitzjohn`` uses the fixed prior of :func:`marginal` (the root's
    normalised conditional likelihoods, summed over states, not maximised). On ties the
    lowest state wins.
    """
    Q, k, states, steps, P, roots = _setup(lineage, states, Q, lengths)
    known = states >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        logP = np.log(P)
        clamp = _clamp(states, k, -np.inf)
        C, best = clamp.copy(), np.zeros((lineage.n, k), np.int64)
        for s in steps:
            own = np.where(s.known[:, None], clamp[s.nodes], C[s.nodes])      # cut at known nodes
            x = logP[s.cls] + own[:, None, :]           # (nodes, parent state, own state)
            best[s.nodes] = x.argmax(axis=2)
            C[s.targets] += _sum_rows(s.reduce, x.max(axis=2))
        fixed = _down(steps, P, clamp)[0][roots] if root_prior == "fitzjohn" else C[roots]
        top = _log_root_prior(fixed, Q, root_prior) + C[roots]
    state = np.where(known, states, 0)
    state[roots] = np.where(known[roots], states[roots], top.argmax(axis=1))
    for s in reversed(steps):
        state[s.nodes] = np.where(known[s.nodes], states[s.nodes],
                                  best[s.nodes, state[s.parents]])
    return Joint(state=state, loglik=float(top.max(axis=1).sum()) + _known_logs(steps, C))


# -- Sankoff parsimony ---------------------------------------------------------------------
def sankoff(lineage: Lineage, states, cost=None) -> tuple[np.ndarray, float]:
    """Weighted (Sankoff) parsimony with known states at any node.

    ``cost[i, j]`` (finite, (k, k)) is the cost of a parent->child change i -> j; the
    default is 0 on the diagonal and 1 elsewhere (then this agrees with :func:`fitch`, k
    taken from the states). Returns ``(state_sets, total_cost)``: the minimum total cost
    over assignments of the unknown states, summed over families, and ``state_sets[v, x]``
    True when some optimal assignment gives v the state x (up to a 1e-9 relative
    tolerance for non-integer costs). Down pass: the cost of v's subtree per state; up
    pass: the cost of everything outside it, both by min-plus products per level.
    """
    states = np.asarray(states, np.int64)
    if states.shape != (lineage.n,) or (states < -1).any():
        raise ValueError(f"states must be one entry per node ({lineage.n}), -1 or 0..k-1")
    if cost is None:
        k = int(states.max(initial=0) + 1)
        cost = 1.0 - np.eye(k)
    cost = np.asarray(cost, float)
    k = len(cost)
    if cost.shape != (k, k) or not np.isfinite(cost).all():
        raise ValueError("cost must be a finite square (k, k) matrix")
    if (states >= k).any():
        raise ValueError(f"states must be < k = {k}")
    steps, _ = _plan(lineage, np.zeros(lineage.n))
    clamp = _clamp(states, k, np.inf)
    D, M = clamp.copy(), np.zeros_like(clamp)
    for s in steps:
        M[s.nodes] = (cost + D[s.nodes][:, None, :]).min(axis=2)
        D[s.targets] += _sum_rows(s.reduce, M[s.nodes])
    U = np.zeros_like(D)
    for s in reversed(steps):
        b = U[s.parents] + D[s.parents] - M[s.nodes]
        U[s.nodes] = (b[:, :, None] + cost).min(axis=1)
    total = D + U
    low = total.min(axis=1, keepdims=True)
    sets = total - low <= 1e-9 * np.maximum(1.0, np.abs(low))
    return sets, float(D[lineage.parent < 0].min(axis=1).sum())
