"""Family anatomy: sizes, depths, out-degrees and hubs, relation mix, Wiener index, growth.

Families are the trees of the primary forest (:mod:`phylohf.genealogy.families`), placeholders
included; distributions are over families with at least two nodes unless said
otherwise, binned in powers of two. The tails of family sizes and out-degrees are fitted by
Clauset, Shalizi & Newman (2009), :mod:`phylohf.analyses.tails`: x_min by KS distance, the exponent by
exact discrete maximum likelihood, a bootstrap goodness of fit, and a likelihood ratio against
the lognormal. The mean distance of a family is its Wiener index over the number of node pairs.
"""
from __future__ import annotations

import numpy as np

from ..genealogy.families import Families, _iso
from ..genealogy.lineage import NO_DATE, Lineage
from ..text import table
from ..sources.records import RELATIONS
from .tails import MIN_TAIL, power_law_tail


def log2_histogram(x: np.ndarray) -> list[dict]:
    """Counts of ``x`` (>= 1) in bins [1], [2, 3], [4, 7], ..."""
    x = np.asarray(x, np.int64)
    x = x[x >= 1]
    if not len(x):
        return []
    b = np.floor(np.log2(x)).astype(np.int64)
    counts = np.bincount(b)
    return [{"from": 2 ** k, "to": 2 ** (k + 1) - 1, "count": int(c)} for k, c in enumerate(counts) if c]


def _quantiles(x: np.ndarray) -> dict:
    if not len(x):
        return {}
    q = np.quantile(x, [0.5, 0.9, 0.99])
    return {"n": int(len(x)), "median": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "max": int(x.max())}


def growth(lineage: Lineage, fams: Families, top: int = 5, points: int = 6) -> list[dict]:
    """Members (dated, cumulative) of the ``top`` largest families at ``points`` dates evenly
    spaced from the first to the last creation date among them."""
    roots = fams.root[:top]
    dated = lineage.created != NO_DATE
    member = np.isin(lineage.root, roots) & dated
    if not member.any():
        return []
    t = lineage.created[member]
    grid = np.linspace(t.min(), t.max(), points).astype(np.int64)
    fam = lineage.root[member]
    out = []
    for r in roots.tolist():
        ts = np.sort(t[fam == r])
        out.append({"root": str(lineage.ids[r]), "dated": int(len(ts)),
                    "first": _iso(ts[0]) if len(ts) else None,
                    "cumulative": np.searchsorted(ts, grid, side="right").tolist()})
    return [{"dates": [_iso(g)[:10] for g in grid.tolist()]}, *out]


def anatomy(lineage: Lineage, fams: Families, top: int = 10, replicates: int = 100, seed: int = 1) -> dict:
    """The anatomy of the forest as a JSON-ready dict (see the module docstring); the tail fits
    take ``replicates`` bootstrap replicates drawn with ``seed``."""
    multi = fams.size >= 2
    deg = lineage.out_degree()
    hubs = np.argsort(-deg, kind="stable")[:top]
    hubs = hubs[deg[hubs] > 0]
    child = np.flatnonzero(lineage.parent >= 0)
    hub_rel = np.zeros((lineage.n, len(RELATIONS)), np.int64)
    np.add.at(hub_rel, (lineage.parent[child], lineage.relation[child]), 1)
    edges = lineage.edge_count()
    total = max(sum(edges.values()), 1)
    pairs = fams.size * (fams.size - 1) // 2
    wiener = [{"root": str(lineage.ids[r]), "size": int(s), "wiener": int(w),
               "mean_distance": float(w / p) if p else 0.0, "depth": int(d)}
              for r, s, w, p, d in zip(fams.root[:top].tolist(), fams.size[:top].tolist(), fams.wiener[:top].tolist(),
                                       pairs[:top].tolist(), fams.depth[:top].tolist())]
    inner = deg[deg > 0]
    return {
        "families": int(len(fams)), "singletons": int((~multi).sum()),
        "size": {**_quantiles(fams.size[multi]), "histogram": log2_histogram(fams.size[multi]),
                 "share_in_top": float(fams.size[:top].sum() / max(lineage.n, 1)), "tail": power_law_tail(fams.size[multi], replicates, seed)},
        "depth": {"family": {**_quantiles(fams.depth[multi]),
                             "counts": np.bincount(fams.depth[multi]).tolist() if multi.any() else []},
                  "node": np.bincount(lineage.depth).tolist()},
        "out_degree": {**_quantiles(inner), "histogram": log2_histogram(inner), "tail": power_law_tail(inner, replicates, seed)},
        "hubs": [{"model": str(lineage.ids[v]), "children": int(deg[v]), "family": str(lineage.ids[lineage.root[v]]),
                  "relations": {r: int(c) for r, c in zip(RELATIONS, hub_rel[v]) if c}} for v in hubs.tolist()],
        "relations": {r: {"edges": c, "share": c / total} for r, c in edges.items()},
        "wiener": wiener,
        "growth": growth(lineage, fams, min(top, 5)),
    }


def _hist_rows(h: list[dict]) -> list[list]:
    return [[f"{b['from']:,}" if b["from"] == b["to"] else f"{b['from']:,}-{b['to']:,}", f"{b['count']:,}"] for b in h]


def tail_text(what: str, unit: str, t: dict) -> str:
    """One line on a tail fit of :func:`phylohf.analyses.tails.power_law_tail`, ending with its verdict."""
    if t["alpha"] is None:
        return (f"{what} tail: too few values for a power-law fit ({t['n']:,} {unit}; x_min needs {MIN_TAIL:,} "
                f"at or above it and a larger value)")
    gof = (f"bootstrap goodness of fit p {t['gof_p']:.2f} ({t['replicates']} replicates)" if t["gof_p"] is not None
           else "no bootstrap goodness of fit")
    ln = t["lognormal"]
    return (f"{what} tail: power-law exponent {t['alpha']:.2f} (95% CI {t['ci'][0]:.2f}-{t['ci'][1]:.2f} given x_min) "
            f"over {t['n']:,} {unit} at x_min {t['x_min']:,} or more (chosen by KS distance, D {t['ks']:.3f}); "
            f"{gof}; vs lognormal R {ln['R']:+.2f} (p {ln['p']:.2f}): {t['verdict']}")


def anatomy_report(a: dict) -> str:
    """The anatomy as text."""
    s, d, o = a["size"], a["depth"]["family"], a["out_degree"]
    lines = ["== Family anatomy ==", "",
             "Conventions: families are trees of primary parents (placeholders included); distributions over "
             "families with 2+ nodes, bins in powers of two; out-degree counts primary children.", "",
             f"families: {a['families']:,}, of which {a['singletons']:,} singletons; the largest "
             f"{len(a['wiener'])} hold {s.get('share_in_top', 0):.1%} of all nodes", ""]
    if s.get("n"):
        lines += [f"family size: median {s['median']:.0f}, 90% {s['p90']:.0f}, 99% {s['p99']:.0f}, max {s['max']:,}; "
                  f"depth: median {d['median']:.0f}, 90% {d['p90']:.0f}, max {d['max']:,}",
                  f"out-degree of models with children: median {o['median']:.0f}, 90% {o['p90']:.0f}, "
                  f"max {o['max']:,}", ""]
        rows_s, rows_o = _hist_rows(s["histogram"]), _hist_rows(o["histogram"])
        k = max(len(rows_s), len(rows_o))
        pad = lambda r: r + [["", ""]] * (k - len(r))
        lines += table(["family size", "families", "out-degree", "models"],
                       [a_ + b_ for a_, b_ in zip(pad(rows_s), pad(rows_o))], right={1, 3}) + [""]
    for what, unit, tail in (("family size", "families", s.get("tail")), ("out-degree", "models", o.get("tail"))):
        if tail:
            lines.append(tail_text(what, unit, tail))
    lines.append("")
    counts = a["depth"]["family"].get("counts", [])
    if counts:
        lines += ["families by depth: " + ", ".join(f"{i}: {c:,}" for i, c in enumerate(counts) if c), ""]
    rel = a["relations"]
    lines += ["relation mix: " + ", ".join(f"{r} {v['edges']:,} ({v['share']:.1%})" for r, v in rel.items()), ""]
    if a["hubs"]:
        rows = [[h["model"], f"{h['children']:,}", h["family"], ", ".join(f"{r} {c:,}" for r, c in h["relations"].items())]
                for h in a["hubs"]]
        lines += ["Largest hubs:", *table(["model", "children", "family", "child edges"], rows, right={1}), ""]
    rows = [[w["root"], f"{w['size']:,}", w["depth"], f"{w['wiener']:,}", f"{w['mean_distance']:.2f}"] for w in a["wiener"]]
    lines += ["Largest families (Wiener index; mean distance = Wiener / node pairs):",
              *table(["family root", "size", "depth", "Wiener", "mean distance"], rows, right={1, 2, 3, 4}), ""]
    if a["growth"]:
        dates = a["growth"][0]["dates"]
        rows = [[g["root"], *(f"{c:,}" for c in g["cumulative"])] for g in a["growth"][1:]]
        lines += ["Growth of the largest families (dated members, cumulative):",
                  *table(["family root", *dates], rows, right=set(range(1, len(dates) + 1))), ""]
    hub = a["hubs"][0] if a["hubs"] else None
    lines.append("What it means: " + (f"lineages are shallow and bushy: half the families have depth "
                                      f"{d['median']:.0f} or less while the largest hub ({hub['model']}) has "
                                      f"{hub['children']:,} children" if hub and s.get("n") else "no family has two nodes") + ".")
    return "\n".join(lines)
