"""Directional transition matrices between parent and child states.

Conventions:

* An edge counts once: C[a, b] is the number of primary parent -> child edges whose
  parent is in state a and child in state b, over edges where both states are known
  (so one A -> B change is one transition, never counted again from the other side).
* P is C with rows normalised (the per-generation matrix of observed edges). With
  unknown states (placeholders, undeclared values) :func:`em_matrix` estimates P by
  maximum likelihood over the whole tree instead: an EM whose E step sums the posterior
  parent/child state pairs of every edge (a two-pass algorithm, :mod:`.asr`), so edges
  with an unknown end count too, each by its probabilities.
* Net flow N = C - Cᵀ and Bowker's statistic of symmetry, sum over pairs with changes of
  (C[a, b] - C[b, a])^2 / (C[a, b] + C[b, a]): descriptive. Their textbook tests (binomial,
  chi-square) take edges as independent, which they are not (a parent's state is shared by
  its clade), so none is printed as a test.
* The maximum compatible ordering (Laufer et al.): the order of the states that maximises
  the transition weight flowing forward (a before b for C[a, b]); an integer programme
  (scipy.optimize.milp), exact, fine up to ~25 states. Its share is forward weight over
  all changes. Of the counts it is descriptive: even under symmetric change more edges
  leave a common state than a rare one, so changes flow from common to rare states and
  the counts' order follows abundance.
* The ordering of the rates, which is tested: the same maximisation over the counts with
  every pair of states given equal exposure (:func:`equalised`), so that only a direction
  in the per-edge rates orders them. Its test is the null engine's (:mod:`.null`): the
  share, maximisation included, recomputed on characters re-simulated under the symmetric
  model (:func:`ordering_statistic`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np
from scipy import optimize

from ..result import Result, frame


@dataclass
class Ordering:
    order: list[int]          # states, first to last
    share: float              # forward weight / all changes


EMPTY_ROW = 1e-9      # expected edges leaving a state at or below which its EM row has no data


@dataclass
class EMMatrix:
    P: np.ndarray             # (classes, k, k) per-generation matrix of each edge class
    root: np.ndarray          # (k,) root state distribution
    loglik: float
    iterations: int
    converged: bool
    edges: np.ndarray | None = None   # (classes, k) expected informative edges leaving each state

    def no_data(self, c: int = 0) -> np.ndarray:
        """States whose row of class ``c`` no informative edge leaves with any probability mass:
        the row is its starting value, not an estimate."""
        return np.flatnonzero(self.edges[c] <= EMPTY_ROW)


@dataclass
class Transitions:
    counts: np.ndarray
    P: np.ndarray
    net: np.ndarray
    bowker: tuple[float, int] = (0.0, 0)
    ordering: Ordering | None = None        # of the counts (the paper's; descriptive)
    rate_ordering: Ordering | None = None   # of the exposure-equalised counts (the tested one)
    em: EMMatrix | None = None    # the ML matrix over the whole tree (:func:`em_matrix`)
    em_class: int = 0             # which of its edge classes these transitions are

    def text(self, names: list[str], trait: str, scope: str) -> str:
        """The transition matrix of one trait, its tests and its best ordering, as text."""
        from ..text import table
        from ..text import matrix
        from ..genealogy.traits import missing_convention
        C = self.counts
        changes = int(C.sum() - np.trace(C))
        lines = [f"== Transitions of {trait} ({scope}) ==", "",
                 "Conventions: primary parent -> child edges with both states known, each edge counted once; "
                 f"states are the most frequent values, '(rare)' lumps the rest; {missing_convention(names)}.", "",
                 f"edges: {int(C.sum()):,}, of which {changes:,} change state", "",
                 "Counts:", *matrix(C, names, lambda v: f"{int(v):,}"), "",
                 "P (per generation; counts with rows normalised):",
                 *matrix(self.P, names, lambda v: f"{v:.3f}", set(np.flatnonzero(C.sum(axis=1) == 0).tolist())), ""]
        if self.em is not None:
            em, P = self.em, self.em.P[self.em_class]
            empty = set(em.no_data(self.em_class).tolist())
            lines += [f"P by maximum likelihood over every edge, unknown states summed over (EM, "
                      f"{em.iterations} iterations{'' if em.converged else ', NOT converged'}, "
                      f"log-likelihood {em.loglik:.1f}); 'edges out': expected informative edges leaving "
                      "the state" + (", 'no data' where none leaves it (the row would only be its start)"
                                     if empty else "") + ":",
                      *matrix(P, names, lambda v: f"{v:.3f}", empty,
                               ("edges out", [f"{x:,.1f}" for x in em.edges[self.em_class]])), ""]
        stat, df = self.bowker
        lines += [f"Bowker's statistic of symmetry: {stat:.1f} over {df} pair(s) with changes (descriptive: edges "
                  "below one parent share its state, so no chi-square p is given)", ""]
        net = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names)) if C[a, b] + C[b, a]]
        net = sorted(net, key=lambda x: -abs(self.net[x]))[:15]
        if net:
            rows = [[f"{names[a]} -> {names[b]}", f"{C[a, b]:,}", f"{C[b, a]:,}", f"{self.net[a, b]:+,}"]
                    for a, b in net]
            lines += ["Net flow per pair (descriptive), largest first:",
                      *table(["pair", "forward", "backward", "net"], rows, right={1, 2, 3}), ""]
        o, r = self.ordering, self.rate_ordering
        lines += ["Maximum compatible ordering of the counts: " + " < ".join(names[s] for s in o.order)
                  + f" (accounts for {o.share:.1%} of changes; descriptive: changes flow from common to rare "
                  "states even when no direction is favoured)",
                  "Maximum compatible ordering of the rates (each pair of states given equal exposure): "
                  + " < ".join(names[s] for s in r.order) + f" ({r.share:.1%} of the equalised changes forward)"]
        return "\n".join(lines)

    def to_json(self, names: list[str]) -> dict:
        """The matrices, tests and ordering in plain types (states named by ``names``)."""
        stat, df = self.bowker
        em = {}
        if self.em is not None:
            empty = self.em.no_data(self.em_class)
            rows = self.em.P[self.em_class].tolist()
            em = {"P_em": [None if i in empty else r for i, r in enumerate(rows)], "em": {
                "loglik": self.em.loglik, "iterations": self.em.iterations, "converged": self.em.converged,
                "root": self.em.root.tolist(), "edges_out": self.em.edges[self.em_class].tolist(),
                "rows_without_data": [names[i] for i in empty]}}
        return {"states": names, "counts": self.counts.tolist(), "P": self.P.tolist(), **em,
                "net": self.net.tolist(),
                "bowker": {"statistic": stat, "pairs": df},
                **{key: {"order": [names[s] for s in o.order], "share": o.share}
                   for key, o in (("ordering", self.ordering), ("rate_ordering", self.rate_ordering))}}


def edge_states(parent: np.ndarray, states: np.ndarray, relation: np.ndarray | None = None,
                only: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(parent state, child state) of every primary edge with both states known
    (optionally only edges whose ``relation`` code is ``only``)."""
    child = np.flatnonzero(parent >= 0)
    if only is not None:
        child = child[relation[child] == only]
    a, b = states[parent[child]], states[child]
    known = (a >= 0) & (b >= 0)
    return a[known], b[known]


def count_matrix(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k)


def bowker(counts: np.ndarray) -> tuple[float, int]:
    """Bowker's statistic of symmetry, sum over pairs with changes of (n_ab - n_ba)^2 / (n_ab + n_ba),
    and the number of those pairs."""
    upper = np.triu_indices(len(counts), 1)
    nab, nba = counts[upper].astype(float), counts.T[upper].astype(float)
    used = nab + nba > 0
    return float(np.sum((nab[used] - nba[used]) ** 2 / (nab[used] + nba[used]))), int(used.sum())


def best_ordering(counts: np.ndarray) -> tuple[list[int], float]:
    """The order maximising the forward transition weight, and that weight's share of all changes."""
    w = counts.astype(float).copy()
    np.fill_diagonal(w, 0)
    total = w.sum()
    k = len(w)
    if k < 2 or total == 0:
        return list(range(k)), 0.0
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    index = {p: n for n, p in enumerate(pairs)}        # x[i, j] = 1: i comes before j
    rows, lo, hi = [], [], []
    for i, j in pairs:
        if i < j:                                      # exactly one of i<j, j<i
            row = np.zeros(len(pairs))
            row[[index[i, j], index[j, i]]] = 1
            rows.append(row), lo.append(1), hi.append(1)
    for i, j, m in permutations(range(k), 3):          # transitivity: no 3-cycle i<j<m<i
        if i < j and i < m:
            row = np.zeros(len(pairs))
            row[[index[i, j], index[j, m], index[m, i]]] = 1
            rows.append(row), lo.append(1), hi.append(2)
    res = optimize.milp(-np.array([w[i, j] for i, j in pairs]), integrality=np.ones(len(pairs)),
                        bounds=optimize.Bounds(0, 1),
                        constraints=optimize.LinearConstraint(np.array(rows), lo, hi))
    x = np.round(res.x).astype(int)
    before = np.zeros((k, k), int)
    for (i, j), v in zip(pairs, x):
        before[i, j] = v
    order = sorted(range(k), key=lambda i: -before[i].sum())
    return order, float(-res.fun / total)


DP_STATES = 10               # up to this many states, shares of many matrices by dynamic programming


def ordering_shares(counts: np.ndarray) -> np.ndarray:
    """The best ordering's share of each (k, k) matrix of a (R, k, k) stack: exact dynamic
    programming over subsets of states, vectorised over the stack, for k <= DP_STATES (the
    best order of a set S ends with the j that maximises best(S - j) + weight into j from
    S - j); beyond, :func:`best_ordering` one by one."""
    R, k, _ = counts.shape
    w = counts.astype(float).copy()
    w[:, np.arange(k), np.arange(k)] = 0
    total = w.sum(axis=(1, 2))
    if k > DP_STATES:
        return np.array([best_ordering(c)[1] for c in counts])
    full = 1 << k
    into = np.zeros((full, k, R))                      # into[T, j] = sum over i in T of w[i, j]
    low = np.arange(1, full) & -np.arange(1, full)
    lowbit = np.log2(low).astype(int)
    for T in range(1, full):
        into[T] = into[T ^ low[T - 1]] + w[:, lowbit[T - 1], :].T
    best = np.full((full, R), -np.inf)
    best[0] = 0
    sizes = np.array([bin(T).count("1") for T in range(full)])
    bits = (np.arange(full)[:, None] >> np.arange(k)) & 1
    for m in range(1, k + 1):
        S = np.flatnonzero(sizes == m)
        j = np.nonzero(bits[S])[1].reshape(len(S), m)          # the m members of each S
        prev = S[:, None] ^ (1 << j)
        best[S] = (best[prev] + into[prev, j]).max(axis=1)
    return np.divide(best[full - 1], total, out=np.zeros(R), where=total > 0)


def equalised(counts: np.ndarray) -> np.ndarray:
    """Counts (..., k, k) with every pair of states given equal exposure: C[a, b] divided by
    n_a, the edges leaving a (stays included), times (n_a + n_b) / 2. Under symmetric change
    E[C_ab] = q_ab n_a, so both directions of a pair weigh alike whatever the states'
    abundance; only a direction in the rates tips them."""
    n = counts.sum(axis=-1)
    inv = np.divide(1.0, n, out=np.zeros(n.shape), where=n > 0)
    return counts * inv[..., :, None] * (n[..., :, None] + n[..., None, :]) / 2


def ordering_statistic(parent: np.ndarray, k: int, lut=None):
    """Null-engine statistic: the share of the best ordering of the rates (:func:`equalised`
    counts) of every column of an (n, R) state array (mapped by ``lut``, see
    :func:`.null.pair_counts`), the maximisation redone on each."""
    from .null import pair_counts
    return lambda S: ordering_shares(equalised(pair_counts(parent, S, k, lut)))


def transitions(parent: np.ndarray, states: np.ndarray, k: int, relation: np.ndarray | None = None,
                only: int | None = None) -> Transitions:
    """All of the above for one categorical trait (states -1 unknown, else 0..k-1)."""
    a, b = edge_states(parent, states, relation, only)
    counts = count_matrix(a, b, k)
    rows = counts.sum(axis=1, keepdims=True)
    P = np.divide(counts, rows, out=np.zeros((k, k)), where=rows > 0)
    return Transitions(counts, P, counts - counts.T, bowker(counts), Ordering(*best_ordering(counts)),
                       Ordering(*best_ordering(equalised(counts))))


def em_matrix(lineage, states: np.ndarray, k: int, edge_class: np.ndarray | None = None,
              tol: float = 1e-8, max_iter: int = 500) -> EMMatrix:
    """Maximum-likelihood per-generation matrices (one per edge class, e.g. relation type)
    and root distribution of a discrete chain down the primary edges, with unknown states
    summed over: EM from the rows-normalised observed counts (plus one per cell); ``loglik``
    is that of the last E step, ``edges`` the expected informative edges leaving each state.

    Stops when an iteration gains less than ``tol`` (relative) in log-likelihood. With
    every state known P is the rows-normalised counts. Rows of a
    class that no informative edge leaves keep their start (:meth:`EMMatrix.no_data`). With no state (k = 0) the
    result is empty: (c, 0, 0) matrices, log-likelihood 0 (of no data).
    """
    from .asr import EStep
    edge_class = np.zeros(lineage.n, np.int64) if edge_class is None else np.asarray(edge_class, np.int64)
    edge = np.flatnonzero(lineage.parent >= 0)
    c = int(edge_class[edge].max(initial=0)) + 1
    if k == 0:                                      # no state at all (nobody declares the trait)
        return EMMatrix(np.zeros((c, 0, 0)), np.zeros(0), 0.0, 0, True, np.zeros((c, 0)))
    P = np.stack([count_matrix(*edge_states(lineage.parent, states, edge_class, j), k) + 1.0
                  for j in range(c)])
    P /= P.sum(axis=2, keepdims=True)
    root, last = np.full(k, 1.0 / k), -np.inf
    e_step = EStep(lineage, states, edge_class, k)
    for it in range(1, max_iter + 1):
        e = e_step(P, root)
        rows = e.pairs.sum(axis=2, keepdims=True)
        P = np.where(rows > 0, e.pairs / np.where(rows > 0, rows, 1.0), P)
        if e.roots.sum() > 0:
            root = e.roots / e.roots.sum()
        if e.loglik - last <= tol * abs(e.loglik):
            return EMMatrix(P, root, e.loglik, it, True, rows[:, :, 0])
        last = e.loglik
    return EMMatrix(P, root, e.loglik, max_iter, False, rows[:, :, 0])


def tree_transitions(lineage, states: np.ndarray, k: int, only: int | None = None) -> Transitions:
    """:func:`transitions` over a lineage's primary edges (only those of relation code
    ``only`` if given), with the per-generation matrix also estimated over the whole tree by
    :func:`em_matrix` (one matrix per relation type when ``only`` is given)."""
    t = transitions(lineage.parent, states, k, lineage.relation, only)
    em = em_matrix(lineage, states, k, None if only is None else lineage.relation)
    return replace(t, em=em, em_class=only or 0)


def gains_and_losses(parent: np.ndarray, matrix, declared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element of a set-valued trait (a sparse nodes x elements matrix): how many primary
    edges gain it (child has it, parent not) and lose it, over edges where both declare the trait."""
    child = np.flatnonzero(parent >= 0)
    child = child[declared[child] & declared[parent[child]]]
    diff = (matrix[child].astype(np.int8) - matrix[parent[child]].astype(np.int8)).tocsc()
    gains = np.asarray((diff > 0).sum(axis=0)).ravel()
    losses = np.asarray((diff < 0).sum(axis=0)).ravel()
    return gains, losses


@dataclass
class TraitTransitions(Result):
    """``phylohf transitions`` of a single-valued or binary trait: the matrices, the orderings
    and the claim that the rates follow one order (null engine; adjusted)."""

    trait: str
    scope: str
    names: list[str]
    transitions: Transitions
    claims: list
    null: int                   # replicates of the claim

    def to_dict(self) -> dict:
        return {"trait": self.trait, "scope": self.scope, **self.transitions.to_json(self.names),
                "claims": [c.to_json() for c in self.claims]}

    def to_frame(self):
        """One row per (parent state, child state): edges counted and the per-generation P."""
        t, names = self.transitions, self.names
        return frame([{"parent": names[a], "child": names[b], "edges": int(t.counts[a, b]), "P": float(t.P[a, b])}
                      for a in range(len(names)) for b in range(len(names))])

    def text(self) -> str:
        return (self.transitions.text(self.names, self.trait, self.scope)
                + (f" (null-engine p = {self.claims[0].p:.3g}, {self.null} replicates of the symmetric model)"
                   if self.claims else ""))


def license_ordering_claims(lineage, genome, top: int, id: str, null: int, seed: int,
                            scope_mask: np.ndarray | None = None, parent: np.ndarray | None = None) -> list:
    """The claim ``id`` that license change rates follow one order: every license id simulated
    (unclassified ids one state, :func:`~phylohf.genealogy.traits.license_ids`) down the edges
    of ``parent`` (default the lineage's) within ``scope_mask``, tested as the table of the
    ``top`` ids and ``(rare)``."""
    from .claims import claim_tests
    from ..genealogy.traits import lumped_license_ids
    ids, names, lut, lumped = lumped_license_ids(genome, top)
    if scope_mask is not None:
        ids = np.where(scope_mask, ids, -1)
    parent = lineage.parent if parent is None else parent
    rate = transitions(parent, np.where(ids >= 0, lut[np.maximum(ids, 0)], -1), len(lumped)).rate_ordering
    return claim_tests(lineage, ids, len(names), {id: (
        "license change rates follow one order (" + " < ".join(lumped[i] for i in rate.order[:4]) + " ...), "
        f"{rate.share:.0%} of the equalised changes forward, more than symmetric change produces",
        ordering_statistic(parent, len(lumped), lut))}, null, seed, "transitions", parent=parent)


def trait_transitions(lineage, states: np.ndarray, names: list[str], trait: str, scope: str,
                      only: int | None, parent: np.ndarray, null: int = 200, seed: int = 1,
                      claims: list | None = None) -> TraitTransitions:
    """:func:`tree_transitions` and the test of its ordering on the edges of ``parent`` (the
    primary edges, or those of relation code ``only``), ``null`` replicates; ``claims``: that
    test made otherwise (the license's, :func:`license_ordering_claims`)."""
    from .claims import adjust, claim_tests
    t = tree_transitions(lineage, states, len(names), only)
    if claims is None:
        claims = claim_tests(lineage, states, len(names), {"ordering": (
            f"{trait} change rates follow one order, more than symmetric change produces",
            ordering_statistic(parent, len(names)))}, null, seed, "transitions", parent=parent)
    return TraitTransitions(trait, scope, names, t, adjust(claims), null)


@dataclass
class Gains(Result):
    """``phylohf transitions`` of a set-valued trait: gains and losses per element (descriptive:
    edges below one parent share its set, so a binomial test of gains against losses, which takes
    edges as independent, would not be valid)."""

    trait: str
    scope: str
    elements: list[str]
    gains: np.ndarray
    losses: np.ndarray

    def rows(self) -> list[dict]:
        return [{"element": e, "gains": int(g), "losses": int(l), "net": int(g - l)}
                for e, g, l in zip(self.elements, self.gains.tolist(), self.losses.tolist())]

    def to_dict(self) -> dict:
        return {"trait": self.trait, "scope": self.scope, "elements": self.rows()}

    def to_frame(self):
        return frame(self.rows())

    def text(self, top: int = 25) -> str:
        """Gains and losses per element, most changed first (the ``top`` of them)."""
        from ..text import table
        g, lost = self.gains, self.losses
        order = np.argsort(-(g + lost), kind="stable")[:top]
        rows = [[self.elements[i], f"{g[i]:,}", f"{lost[i]:,}", f"{g[i] - lost[i]:+,}"]
                for i in order.tolist() if g[i] + lost[i]]
        return "\n".join([f"== Gains and losses of {self.trait} ({self.scope}) ==", "",
                          "Conventions: primary parent -> child edges where both models declare the trait; "
                          "an element is gained when the child has it and the parent not; descriptive counts "
                          "(edges below one parent share its set, so no binomial p is given).", "",
                          *table(["element", "gains", "losses", "net"], rows, right={1, 2, 3})])


def gains(parent: np.ndarray, matrix, declared: np.ndarray, elements: list[str], trait: str, scope: str) -> Gains:
    """:func:`gains_and_losses` of a set-valued trait."""
    return Gains(trait, scope, elements, *gains_and_losses(parent, matrix, declared))
