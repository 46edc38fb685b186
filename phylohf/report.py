"""Plain-text reports of the analyses (the conventions that change numbers come first)."""
from __future__ import annotations

import numpy as np

from .overview import table
from .phylo.transitions import Transitions


def _matrix(m: np.ndarray, names: list[str], fmt) -> list[str]:
    rows = [[f"{names[i]} ->", *(fmt(v) for v in m[i])] for i in range(len(names))]
    return table(["parent \\ child", *names], rows, right=set(range(1, len(names) + 1)))


def transitions_report(t: Transitions, names: list[str], trait: str, scope: str) -> str:
    """The transition matrix of one trait, its tests and its best ordering, as text."""
    changes = int(t.counts.sum() - np.trace(t.counts))
    lines = [f"== Transitions of {trait} ({scope}) ==", "",
             "Conventions: primary parent -> child edges with both states known, each edge counted "
             "once; states are the most frequent values, '(other)' lumps the rest, undeclared is "
             "unknown (not a state); P = counts with rows normalised.", "",
             f"edges: {int(t.counts.sum()):,}, of which {changes:,} change state", "",
             "Counts:", *_matrix(t.counts, names, lambda v: f"{int(v):,}"), "",
             "P (per generation):", *_matrix(t.P, names, lambda v: f"{v:.3f}"), ""]
    stat, df, p = t.bowker
    lines += [f"Bowker's test of symmetry: chi2 = {stat:.1f}, df = {df}, p = {p:.3g} "
              "(symmetric counts; note that unequal parent-state composition alone can reject it)", ""]
    pairs = sorted(t.pairs, key=lambda x: x.q)[:15]
    if pairs:
        rows = [[f"{names[x.a]} -> {names[x.b]}", f"{x.forward:,}", f"{x.backward:,}",
                 f"{x.forward - x.backward:+,}", f"{x.p:.3g}", f"{x.q:.3g}"] for x in pairs]
        lines += ["Net flow per pair (two-sided binomial test, Benjamini-Hochberg q), strongest first:",
                  *table(["pair", "forward", "backward", "net", "p", "q"], rows, right={1, 2, 3, 4, 5}), ""]
    o = t.ordering
    null = f", permutation p = {o.null_p:.3g}" if o.null_p is not None else ""
    lines.append("Maximum compatible ordering: " + " < ".join(names[s] for s in o.order)
                 + f" (accounts for {o.share:.1%} of changes{null})")
    return "\n".join(lines)


def transitions_json(t: Transitions, names: list[str]) -> dict:
    stat, df, p = t.bowker
    return {"states": names, "counts": t.counts.tolist(), "P": t.P.tolist(), "net": t.net.tolist(),
            "pair_tests": [{"from": names[x.a], "to": names[x.b], "forward": x.forward,
                            "backward": x.backward, "p": x.p, "q": x.q} for x in t.pairs],
            "bowker": {"statistic": stat, "df": df, "p": p},
            "ordering": {"order": [names[s] for s in t.ordering.order], "share": t.ordering.share,
                         "permutation_p": t.ordering.null_p}}
