"""Expected changes of a character along every edge: the exact counterpart of stochastic
character mapping.

For the edge above v, given all the data under a fitted Q (unknown ends summed over):

* **pair posteriors** P(parent in a, v in b | data), proportional to
  ``above_v[a] P_ab(t_v) down_v[b]`` (the E step's pairs, per edge);
* **expected jumps** a -> b along the edge in continuous time (Minin & Suchard 2008):
  ``q_ab sum_ij above_i down_j int_0^t P_ia(s) P_bj(t - s) ds / (above^T P(t) down)``. With
  Q = V diag(w) V^-1 the integral is ``sum_ml V_im Vi_ma V_bl Vi_lj F_ml(t)``, F as in the Mk
  gradient (``(e^{w_m t} - e^{w_l t}) / (w_m - w_l)``, ``t e^{w_m t}`` when equal); when Q's
  eigenvectors are ill-conditioned, the integral is the upper-right block of
  ``expm(t [[Q, E_ab], [0, Q]])`` (Van Loan 1978), per distinct length.

Only edges whose subtree holds a known state are counted: the others carry the prior and
no data. Totals per forest, family or relation type sum these matrices; their CIs resample
families (cluster bootstrap).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import linalg

from ..genealogy.lineage import Lineage
from ..result import Result
from .asr import _down_pass, _edge_pairs, _up_pass
from .mk import MkData, MkFit, _eigen, fit_mk

if TYPE_CHECKING:
    from ..genealogy.branch_lengths import BranchLengths


@dataclass
class EdgeChanges:
    nodes: np.ndarray       # (E,) the child node of every counted edge
    pairs: np.ndarray       # (E, k, k) posterior of (parent state, child state)
    jumps: np.ndarray       # (E, k, k) expected a -> b jumps along the edge (diagonal 0)


def _f_matrix(w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), k, k): F_ml(t) = int_0^t e^{w_m s} e^{w_l (t - s)} ds."""
    tt = t[:, None, None]
    d = (w[:, None] - w[None, :]) * tt / 2
    e = np.exp(np.outer(t, w))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (e[:, :, None] - e[:, None, :]) / (w[:, None] - w[None, :])
    near = t[:, None, None] * np.exp((w[:, None] + w[None, :]) * tt / 2) * (1 + d * d / 6 + d ** 4 / 120)
    return np.where(np.abs(d) < 1e-3, near, f)


def _jump_integrals(Q: np.ndarray, t: float) -> np.ndarray:
    """(a, b, i, j): int_0^t P_ia(s) P_bj(t - s) ds by Van Loan's block exponential."""
    k = len(Q)
    out = np.empty((k, k, k, k))
    for a in range(k):
        for b in range(k):
            e = np.zeros((k, k))
            e[a, b] = 1.0
            big = linalg.expm(t * np.block([[Q, e], [np.zeros((k, k)), Q]]))
            out[a, b] = big[:k, k:]
    return out


def _expected_jumps(Q, t, up, down) -> np.ndarray:
    """(E, k, k) expected jumps given each edge's (scaled) outside and inside vectors."""
    k = len(Q)
    off = Q * (1 - np.eye(k))
    dec = _eigen(Q)
    if dec is not None:
        w, v, vi = dec
        u, inv = np.unique(t, return_inverse=True)
        h = (up @ v)[:, :, None] * (down @ vi.T)[:, None, :] * _f_matrix(w, u)[inv]
        integral = (vi.T @ h @ v.T).real
    else:
        integral = np.empty((len(t), k, k))
        u, inv = np.unique(t, return_inverse=True)
        for c, tc in enumerate(u):
            at = inv == c
            integral[at] = np.einsum("abij,ni,nj->nab", _jump_integrals(Q, tc), up[at], down[at])
    return np.maximum(off * integral, 0.0)


def edge_changes(lineage: Lineage, states, Q, lengths, root_prior: str = "equal",
                 groups=None) -> EdgeChanges:
    """Pair posteriors and expected jumps of every informative edge under Q (one matrix, or
    one per edge group with ``groups``)."""
    ps = _down_pass(lineage, states, Q, lengths, root_prior, groups)
    k = ps.k
    keep = MkData.informative(lineage, np.asarray(states) >= 0)
    lengths = np.asarray(lengths, float)
    group = np.zeros(lineage.n, np.int64) if groups is None else np.asarray(groups, np.int64)
    Q = np.asarray(Q, float)
    Qs = Q[None] if Q.ndim == 2 else Q
    parts = []

    def visit(s, above):
        use = np.flatnonzero(keep[s.nodes])
        lo, d, pairs, z = _edge_pairs(ps, s, use, above)
        nodes = s.nodes[use]
        jumps = np.zeros_like(pairs)
        for g in np.unique(group[nodes]):
            at = group[nodes] == g
            jumps[at] = _expected_jumps(Qs[g], lengths[nodes[at]], lo[at], d[at])
        parts.append((nodes, pairs / z, jumps / z))

    _up_pass(ps, visit)
    if not parts:
        return EdgeChanges(np.zeros(0, np.int64), np.zeros((0, k, k)), np.zeros((0, k, k)))
    nodes, pairs, jumps = (np.concatenate(x) for x in zip(*parts))
    order = np.argsort(nodes)
    return EdgeChanges(nodes[order], pairs[order], jumps[order])


def totals(values: np.ndarray, label: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels, k, k): the per-edge matrices summed by label."""
    k = values.shape[-1]
    flat = np.zeros((n_labels, k * k))
    np.add.at(flat, label, values.reshape(len(values), -1))
    return flat.reshape(n_labels, k, k)


def family_bootstrap(values: np.ndarray, family: np.ndarray, replicates: int, seed: int,
                     level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile CIs of the total matrix, resampling the families that hold
    counted edges with replacement."""
    fams, inv = np.unique(family, return_inverse=True)
    per = totals(values, inv, len(fams)).reshape(len(fams), -1)
    rng = np.random.default_rng(seed)
    draws = np.array([np.bincount(rng.integers(0, len(fams), len(fams)), minlength=len(fams)) @ per
                      for _ in range(replicates)])
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    k = values.shape[-1]
    return lo.reshape(k, k), hi.reshape(k, k)



def summarise(lineage: Lineage, e: EdgeChanges, replicates: int = 200, seed: int = 1,
              top_families: int = 20) -> dict:
    """Totals of expected changes (pair posteriors off the diagonal, and jumps) over the
    forest with family-bootstrap 95% CIs, per relation type of the edge, and for the
    ``top_families`` families with the most expected jumps."""
    from ..sources.records import RELATIONS
    k = e.pairs.shape[-1]
    off = 1 - np.eye(k)
    family = lineage.root[e.nodes]

    def block(values, label=None):
        out = {"total": values.sum(axis=0).tolist()}
        if label is not None and replicates:
            lo, hi = family_bootstrap(values, label, replicates, seed)
            out.update(low=lo.tolist(), high=hi.tolist())
        return out

    rel = np.asarray(lineage.relation, np.int64)[e.nodes]
    fams, inv = np.unique(family, return_inverse=True)
    per_fam = totals(e.jumps, inv, len(fams))
    best = np.argsort(-per_fam.sum(axis=(1, 2)), kind="stable")[:top_families]
    return {"edges": int(len(e.nodes)), "bootstrap": replicates,
            "forest": {"pairs": block(e.pairs * off, family), "jumps": block(e.jumps, family)},
            "relations": {RELATIONS[r]: {"edges": int((rel == r).sum()),
                                         "pairs": block(e.pairs[rel == r] * off),
                                         "jumps": block(e.jumps[rel == r])}
                          for r in np.unique(rel[rel >= 0]).tolist()},
            "families": {str(lineage.ids[fams[f]]): {"edges": int((inv == f).sum()),
                                                     "jumps": per_fam[f].tolist()} for f in best.tolist()}}


@dataclass
class Changes(Result):
    """``phylohf changes``: the fitted Mk model and the expected changes it implies
    (:func:`summarise`: totals with CIs, per relation type, per family)."""

    trait: str
    scope: str
    names: list[str]
    model: str
    by_relation: bool
    fit: MkFit
    summary: dict
    conventions: str

    def to_dict(self) -> dict:
        return {"trait": self.trait, "scope": self.scope, "states": self.names, "model": self.model,
                "by_relation": self.by_relation, "loglik": self.fit.loglik, "Q": np.asarray(self.fit.Q).tolist(),
                "changes": self.summary}

    def text(self) -> str:
        """Expected changes over the forest (with CIs), per relation type and per family."""
        summary, names = self.summary, self.names
        forest = summary["forest"]
        ci = lambda b, i, j: f"{b['total'][i][j]:.1f} [{b['low'][i][j]:.1f}, {b['high'][i][j]:.1f}]"  # noqa: E731
        fmt = ci if "low" in forest["jumps"] else (lambda b, i, j: f"{b['total'][i][j]:.1f}")    # noqa: E731
        lines = [f"== Expected changes of {self.trait} ({self.scope}) ==", "", f"Conventions: {self.conventions}", "",
                 f"Edges counted (their subtree holds a known state): {summary['edges']:,}", "",
                 "Expected parent -> child changes (posterior of each state pair, off the diagonal), "
                 f"summed over the forest, with family-bootstrap 95% CIs ({summary['bootstrap']} replicates):",
                 *_cells(forest["pairs"], names, fmt), "",
                 "Expected jumps along the edges (Minin & Suchard; several per edge on long edges):",
                 *_cells(forest["jumps"], names, fmt), ""]
        for rel, r in summary["relations"].items():
            total = np.asarray(r["jumps"]["total"]).sum()
            lines.append(f"  {rel}: {r['edges']:,} edges, {total:.1f} expected jumps "
                         f"({total / max(r['edges'], 1):.3f} per edge)")
        if summary["families"]:
            lines += ["", "Families with the most expected jumps:"]
            lines += [f"  {root}: {f['edges']:,} edges, {np.sum(f['jumps']):.1f} jumps"
                      for root, f in summary["families"].items()]
        return "\n".join(lines).rstrip()


def _cells(block: dict, names: list[str], cell) -> list[str]:
    """A matrix of ``cell(block, i, j)`` strings, diagonal blank."""
    k = len(names)
    grid = np.array([[("-" if i == j else cell(block, i, j)) for j in range(k)] for i in range(k)], object)
    from ..text import matrix
    return matrix(grid, names, str)


def expected_changes(lineage: Lineage, states: np.ndarray, names: list[str], lengths: BranchLengths,
                     trait: str, scope: str, model: str = "ARD", by_relation: bool = False,
                     root_prior: str = "equal", starts: int = 2, bootstrap: int = 200, seed: int = 1) -> Changes:
    """Fit ``model`` (one Q per relation type with ``by_relation``) on ``lengths`` (a
    :class:`~phylohf.genealogy.branch_lengths.BranchLengths`) and sum :func:`edge_changes` with
    ``bootstrap`` family-bootstrap replicates."""
    from .byrelation import relation_groups
    groups = relation_groups(lineage)[0] if by_relation else None
    fit = fit_mk(lineage, states, lengths.length, model, root_prior, starts=starts, seed=seed, k=len(names),
                 groups=groups)
    summary = summarise(lineage, edge_changes(lineage, states, fit.Q, lengths.length, root_prior, groups),
                        bootstrap, seed)
    conventions = (f"Mk {model} fitted by maximum likelihood" + (" (one Q per relation type)" if groups is not None
                   else "") + f", root prior {root_prior}, branch lengths {lengths.describe()}; known states "
                   "clamp their node, unknown ones are summed over; expectations given all the data")
    return Changes(trait, scope, names, model, bool(by_relation), fit, summary, conventions)
