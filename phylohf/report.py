"""Plain-text reports of the analyses (the conventions that change numbers come first)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .overview import table

if TYPE_CHECKING:
    from .phylo.transitions import Transitions


def _matrix(m: np.ndarray, names: list[str], fmt, empty=(), extra: tuple[str, list[str]] | None = None) -> list[str]:
    """A parent x child matrix; rows in ``empty`` read "no data"; ``extra``: (header, one cell per row)."""
    k = len(names)
    rows = [[f"{names[i]} ->", *(["no data", *["-"] * (k - 1)] if i in empty else [fmt(v) for v in m[i]]),
             *([extra[1][i]] if extra else [])] for i in range(k)]
    return table(["parent \\ child", *names, *([extra[0]] if extra else [])], rows,
                 right=set(range(1, k + 1 + bool(extra))))


def transitions_report(t: Transitions, names: list[str], trait: str, scope: str) -> str:
    """The transition matrix of one trait, its tests and its best ordering, as text."""
    from .traits import missing_convention
    changes = int(t.counts.sum() - np.trace(t.counts))
    lines = [f"== Transitions of {trait} ({scope}) ==", "",
             "Conventions: primary parent -> child edges with both states known, each edge counted "
             f"once; states are the most frequent values, '(rare)' lumps the rest; {missing_convention(names)}.", "",
             f"edges: {int(t.counts.sum()):,}, of which {changes:,} change state", "",
             "Counts:", *_matrix(t.counts, names, lambda v: f"{int(v):,}"), "",
             "P (per generation; counts with rows normalised):",
             *_matrix(t.P, names, lambda v: f"{v:.3f}", set(np.flatnonzero(t.counts.sum(axis=1) == 0).tolist())), ""]
    if t.em is not None:
        em, P = t.em, t.em.P[t.em_class]
        empty = set(em.no_data(t.em_class).tolist())
        lines += [f"P by maximum likelihood over every edge, unknown states summed over (EM, "
                  f"{em.iterations} iterations{'' if em.converged else ', NOT converged'}, "
                  f"log-likelihood {em.loglik:.1f}); 'edges out': expected informative edges leaving "
                  "the state" + (", 'no data' where none leaves it (the row would only be its start)"
                                 if empty else "") + ":",
                  *_matrix(P, names, lambda v: f"{v:.3f}", empty,
                           ("edges out", [f"{x:,.1f}" for x in em.edges[t.em_class]])), ""]
    stat, df = t.bowker
    lines += [f"Bowker's statistic of symmetry: {stat:.1f} over {df} pair(s) with changes (descriptive: edges "
              "below one parent share its state, so no chi-square p is given)", ""]
    net = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names)) if t.counts[a, b] + t.counts[b, a]]
    net = sorted(net, key=lambda x: -abs(t.net[x]))[:15]
    if net:
        rows = [[f"{names[a]} -> {names[b]}", f"{t.counts[a, b]:,}", f"{t.counts[b, a]:,}", f"{t.net[a, b]:+,}"]
                for a, b in net]
        lines += ["Net flow per pair (descriptive), largest first:",
                  *table(["pair", "forward", "backward", "net"], rows, right={1, 2, 3}), ""]
    o = t.ordering
    lines.append("Maximum compatible ordering: " + " < ".join(names[s] for s in o.order)
                 + f" (accounts for {o.share:.1%} of changes)")
    return "\n".join(lines)


def transitions_json(t: Transitions, names: list[str]) -> dict:
    stat, df = t.bowker
    em = {}
    if t.em is not None:
        empty = t.em.no_data(t.em_class)
        rows = t.em.P[t.em_class].tolist()
        em = {"P_em": [None if i in empty else r for i, r in enumerate(rows)], "em": {
            "loglik": t.em.loglik, "iterations": t.em.iterations, "converged": t.em.converged,
            "root": t.em.root.tolist(), "edges_out": t.em.edges[t.em_class].tolist(),
            "rows_without_data": [names[i] for i in empty]}}
    return {"states": names, "counts": t.counts.tolist(), "P": t.P.tolist(), **em, "net": t.net.tolist(),
            "bowker": {"statistic": stat, "pairs": df},
            "ordering": {"order": [names[s] for s in t.ordering.order], "share": t.ordering.share}}


SCORE_COLUMNS = ("accuracy", "log-loss", "Brier", "all: accuracy", "log-loss", "Brier")


def _score_rows(check: dict) -> list[list[str]]:
    """One row per method of a masking check: scores with a visible relative, then over all hidden."""
    near, every = check["scores"]["with a visible relative"], check["scores"]["all hidden"]
    cells = lambda s: [f"{s['accuracy']:.3f}", f"{s['log_loss']:.3f}", f"{s['brier']:.3f}"]  # noqa: E731
    return [[name, *(cells(near[name]) if near else ["-"] * 3), *cells(every[name])] for name in every]


def asr_report(fit, marg, names: list[str], trait: str, scope: str, conventions: str,
               imputed: np.ndarray, uninformed: np.ndarray, checks: dict[str, dict[str, float]] | None) -> str:
    """A fitted Mk model, its rate matrix and the reconstruction (imputation) of unknown states."""
    lines = [f"== Ancestral states of {trait} ({scope}) ==", "", f"Conventions: {conventions}", "",
             f"Mk model {fit.model}: log-likelihood {fit.loglik:.2f}, {fit.n_params} rate(s), "
             f"AIC {fit.aic:.1f}" + (f", {fit.at_bound} on a bound of the search" if fit.at_bound else ""),
             *(["Stationary frequencies: " + ", ".join(f"{n} {p:.3f}" for n, p in zip(names, fit.pi))]
               if fit.pi is not None else []), "", "Q (rates per unit branch length):",
             *_matrix(fit.Q, names, lambda v: f"{v:.3g}"), ""]
    if len(imputed) + len(uninformed):
        lines.append(f"Nodes without a known state: {len(imputed) + len(uninformed):,}; "
                     f"{len(uninformed):,} of them have no relative with a known state (posterior = root prior)")
    if len(imputed):
        best = marg.posterior[imputed].max(axis=1)
        per_state = np.bincount(marg.map_state[imputed], minlength=len(names))
        lines += [f"Imputed from relatives: {len(imputed):,}; most probable state's probability median "
                  f"{np.median(best):.2f}, {np.mean(best >= 0.9):.0%} at 0.9 or more",
                  "  by most probable state: " + ", ".join(f"{names[s]} {c:,}" for s, c in
                                                         enumerate(per_state) if c), ""]
    if checks:
        lines += [f"Masking check: {checks['hidden']:,} known states hidden at random and reconstructed; "
                  f"{checks['with_relative']:,} of them keep a visible relative in their family (the "
                  "others, mostly lone models, only the prior can guess):",
                  *table(["method", *SCORE_COLUMNS], _score_rows(checks), right=set(range(1, 7)))]
        if checks.get("schemes"):
            rows = [[name, f"{c['hidden']:,}", f"{c['with_relative']:,}", *row]
                    for name, c in checks["schemes"].items() for row in _score_rows(c)]
            hides = {name.split(":")[0] + (":R" if ":" in name else ""): c["hides"]
                     for name, c in checks["schemes"].items()}
            lines += ["", "Masks not at random (on the Hub, undeclared is not missing at random): "
                      + "; ".join(f"{name} hides {what}" for name, what in hides.items())
                      + "; each refitted on what stays visible:",
                      *table(["mask", "hidden", "w/ relative", "method", *SCORE_COLUMNS], rows,
                             right={1, 2, *range(4, 10)})]
    return "\n".join(lines).rstrip()


def gains_report(elements: list[str], gains, losses, p, q, trait: str, scope: str, top: int = 25) -> str:
    """Gains and losses per element of a set-valued trait, most changed first."""
    order = np.argsort(-(gains + losses), kind="stable")[:top]
    rows = [[elements[i], f"{gains[i]:,}", f"{losses[i]:,}", f"{gains[i] - losses[i]:+,}",
             f"{p[i]:.3g}", f"{q[i]:.3g}"] for i in order.tolist() if gains[i] + losses[i]]
    return "\n".join([f"== Gains and losses of {trait} ({scope}) ==", "",
                      "Conventions: primary parent -> child edges where both models declare the trait; "
                      "an element is gained when the child has it and the parent not; two-sided "
                      "binomial test of gains vs losses, Benjamini-Hochberg q.", "",
                      *table(["element", "gains", "losses", "net", "p", "q"], rows, right={1, 2, 3, 4, 5})])


def _pvalue(p: float, replicates: int) -> str:
    """A resampling p-value; at its floor 1 / (replicates + 1) it reads "p <= floor"."""
    return f"p <= {p:.2g}" if p <= 1 / (replicates + 1) + 1e-12 else f"p = {p:.2g}"


def relatives_report(result: dict) -> str:
    """Kinship tests (``relatives.kinship``): per trait group, the classes and the verdict;
    then its claims (adjusted beforehand: :func:`phylohf.claims.adjust`)."""
    from .claims import meaning, table as claim_table
    from .relatives import BINARY_GROUPS, LABELS
    metric, similar = result["metric"], result["higher_is_similar"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"                      # noqa: E731
    reps = result["null_replicates"]
    lines = [f"== Kinship: {metric} {'similarity' if similar else 'distance'} of relatives "
             f"({result['scope']}) ==", "",
             "Conventions: relatives along primary parents (edges: " + ", ".join(result["relations"])
             + "); only models declaring the group, decided before pairing; all pairs of a class up to "
             f"{result['max_pairs']:,}, else a uniform sample of that many"
             + (" (class means exact by aggregation)" if metric == "hamming" else "")
             + f"; 95% CIs from a cluster bootstrap over families ({result['bootstrap']:,} replicates). "
             f"Null ({reps:,} replicates): the group's trait set as one character (its {result['pattern_limit']} "
             "most frequent sets; models with a rarer set take no part in the null's tests, in the data and in "
             f"every replicate) re-simulated down the same trees ({result['null_model']} rates per relation type "
             "from the same edges as the pairs, hidden rate classes of parents, founders and declared models as "
             f"observed: children change independently); {', '.join(BINARY_GROUPS)}: every trait an independent "
             "binary character, one rate for all parents (rate heterogeneity alone can pass as a sibling "
             "excess there, so it is shown but claims nothing). Shared change: among sibling pairs that both left their parent's state, the share "
             "that moved to the same new one.", ""]
    for group, g in result["groups"].items():
        rows = []
        for cls, c in g["classes"].items():
            ci = "-" if not c["ci"] else f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]"
            share = c["same_author"]["share"]
            author = "-" if share is None else (f"{share:.0%}: {fmt(c['same_author']['mean'])} vs "
                                                f"{fmt(c['different_author']['mean'])}")
            rows.append([LABELS[cls], f"{c['n']:,}" + ("" if c["exact"] else "*"), fmt(c["mean"]),
                         fmt(c["median"]), ci, author])
        lines += [f"-- {group} ({g['eligible']:,} models declare it) --",
                  *table(["class", "pairs", "mean", "median", "95% CI", "same author: share, mean vs other"],
                         rows, right={1, 2, 3})]
        d, null = g["sib_minus_pc"], g["null"]
        if d["diff"] is None:
            lines += ["verdict: no sibling or no parent/child pairs", ""]
            continue
        closer = (d["diff"] > 0) == similar
        verdict = (f"verdict: siblings {'more' if closer else 'less'} similar than parent/child: "
                   f"{d['diff']:+.3f}")
        if d["ci"]:
            verdict += f" [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}], {_pvalue(d['p'], result['bootstrap'])}"
        if d["cohen_d"] is not None:
            verdict += f", d = {d['cohen_d']:+.2f}"
        lines.append(verdict)
        if null:
            left = f"; {null['left_out']:,} models with a rarer set left out" if null["left_out"] else ""
            lines.append(f"null: {null['diff']:+.3f} [{null['ci'][0]:+.3f}, {null['ci'][1]:+.3f}] on the null's "
                         f"pairs (observed {null['observed']:+.3f}{left}); sibling excess over it: "
                         f"{_pvalue(null['p'], reps)}")
            lines.append(f"  null model: {null['model']}")
            sc = null["shared_change"]
            if sc:
                lines.append(f"shared change: {sc['share']:.3f} of sibling pairs that both changed moved to the "
                             f"same new state; null {sc['null']:.3f} [{sc['ci'][0]:.3f}, {sc['ci'][1]:.3f}]: "
                             f"{_pvalue(sc['p'], reps)}")
        lines.append("")
    if any(not c["exact"] for g in result["groups"].values() for c in g["classes"].values()):
        lines.append("* sampled uniformly: median and author split from the sample"
                     + ("; means exact by aggregation" if metric == "hamming" else ", and the mean"))
    claims = result.get("claims") or []
    if claims:
        lines += ["", "Claims (family resemblance: one-sided cluster bootstrap; sibling excess and shared change: "
                  "the null above; q: Benjamini-Hochberg across the claims):", *claim_table(claims), "",
                  meaning(claims)]
    return "\n".join(lines)
