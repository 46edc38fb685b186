"""Drift along parent -> child edges: licenses, languages, tasks, libraries, model cards.

Conventions: primary parent -> child edges, each counted once, where both ends declare
what is compared (eligibility fixed before any resampling). A *flow* compares edges
moving one way (A -> B) with the reverse (B -> A): its p-value is the two-sided
binomial test of the two counts (edges taken as independent), its 95% CI the
percentile cluster bootstrap over families of log((forward + 1/2) / (backward + 1/2)),
which allows for relatives sharing changes. Flows, not shares: with A rarer than B,
P(A -> B | A) exceeds P(B -> A | B) even without drift, while the counts of the two
directions balance. Card length compares child and parent by the median log-ratio
(natural log) with the same family bootstrap.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from .genome import Genome
from .lineage import Lineage
from .licenses import CLASSES, class_states
from .overview import table
from .phylo.transitions import transitions
from .records import RELATIONS
from .traits import categorical

RESTRICTIVE = ("non-commercial", "community")
PERMISSIVE = ("permissive", "public-domain")


@dataclass
class Flow:
    """Edges moving ``forward`` (A -> B) against ``backward`` (B -> A)."""

    name: str
    forward: int
    backward: int
    eligible: int              # edges where both ends are known
    log_ratio: float           # log((forward + 1/2) / (backward + 1/2))
    ci: tuple[float, float]
    p: float

    @property
    def significant(self) -> bool:
        return self.p < 0.05 and (self.ci[0] > 0 or self.ci[1] < 0)


@dataclass
class Rate:
    """Share of eligible edges where a value changes, with its family-bootstrap CI."""

    name: str
    changed: int
    eligible: int
    share: float
    ci: tuple[float, float]


@dataclass
class Median:
    name: str
    n: int
    median: float
    ci: tuple[float, float]


class _Clusters:
    """Family-level (cluster) bootstrap of edge statistics: each replicate redraws families
    with replacement; an edge's weight is how often its family was drawn."""

    def __init__(self, family: np.ndarray, n_boot: int, seed: int):
        uniq, self.codes = np.unique(family, return_inverse=True)
        self.k = len(uniq)
        self.n_boot, self.seed = n_boot, seed

    def weights(self, chunk: int = 64):
        """(replicates, families) draw counts, yielded in chunks to bound memory."""
        rng = np.random.default_rng(self.seed)
        for lo in range(0, self.n_boot, chunk):
            m = min(chunk, self.n_boot - lo)
            draws = rng.integers(0, max(self.k, 1), size=(m, self.k)) + self.k * np.arange(m)[:, None]
            yield np.bincount(draws.ravel(), minlength=m * self.k).reshape(m, self.k)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(replicates, columns) bootstrap sums of per-edge ``values`` (edges x columns)."""
        per_family = np.zeros((self.k, values.shape[1]))
        np.add.at(per_family, self.codes, values)
        return np.vstack([w @ per_family for w in self.weights()])

    def medians(self, values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        v, c = values[order], self.codes[order]
        out = []
        for w in self.weights():
            cum = np.cumsum(w[:, c], axis=1)
            half = cum[:, -1:] / 2
            out.append(v[np.minimum((cum < half).sum(axis=1), len(v) - 1)])
        return np.concatenate(out)


def _ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    return (float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))) if len(x) else (np.nan, np.nan)


def flow(name: str, forward: np.ndarray, backward: np.ndarray, eligible: np.ndarray,
         family: np.ndarray, n_boot: int = 1000, seed: int = 0, events: np.ndarray | None = None) -> Flow:
    """A flow from per-edge booleans (``forward``, ``backward``) over ``eligible`` edges.

    ``events``: per-edge keys (e.g. parent * k + child state); edges sharing a key count once,
    so siblings that adopt the same change from their parent are one change, not many."""
    if events is not None:
        first = np.zeros(len(forward), bool)
        first[np.unique(np.where(eligible, events, -1), return_index=True)[1]] = True
        forward, backward = forward & first, backward & first
    f, b, fam = forward[eligible], backward[eligible], family[eligible]
    nf, nb = int(f.sum()), int(b.sum())
    boot = _Clusters(fam, n_boot, seed).sums(np.column_stack([f, b]).astype(float))
    lr = np.log((boot[:, 0] + 0.5) / (boot[:, 1] + 0.5))
    p = float(stats.binomtest(nf, nf + nb).pvalue) if nf + nb else 1.0
    return Flow(name, nf, nb, int(eligible.sum()), float(np.log((nf + 0.5) / (nb + 0.5))), _ci(lr), p)


def rate(name: str, changed: np.ndarray, eligible: np.ndarray, family: np.ndarray,
         n_boot: int = 1000, seed: int = 0) -> Rate:
    c = changed[eligible].astype(float)
    if not len(c):
        return Rate(name, 0, 0, np.nan, (np.nan, np.nan))
    boot = _Clusters(family[eligible], n_boot, seed).sums(np.column_stack([c, np.ones_like(c)]))
    return Rate(name, int(c.sum()), len(c), float(c.mean()), _ci(boot[:, 0] / np.maximum(boot[:, 1], 1)))


def median(name: str, values: np.ndarray, family: np.ndarray, n_boot: int = 1000, seed: int = 0) -> Median:
    if not len(values):
        return Median(name, 0, np.nan, (np.nan, np.nan))
    return Median(name, len(values), float(np.median(values)),
                  _ci(_Clusters(family, n_boot, seed).medians(values)))


def _edges(lineage: Lineage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    child = np.flatnonzero(lineage.parent >= 0)
    return child, lineage.parent[child], lineage.root[child]


# -- licenses --------------------------------------------------------------------------------
def license_drift(lineage: Lineage, genome: Genome, n_boot: int = 1000, n_perm: int = 100,
                  seed: int = 0) -> dict:
    """Class-level transition matrix, ordering (with permutation null) and the flows
    restrictive (non-commercial, model licenses) -> permissive / copyleft versus the reverse."""
    states, names = categorical(genome, "license", top=len(genome.columns("license")))
    cls = class_states(states, names)
    t = transitions(lineage.parent, cls, len(CLASSES), n_perm=n_perm, seed=seed)
    child, parent, fam = _edges(lineage)
    a, b = cls[parent], cls[child]
    ok = (a >= 0) & (b >= 0)
    restrictive = np.isin(np.arange(len(CLASSES)), [CLASSES.index(c) for c in RESTRICTIVE])
    groups = {"permissive": np.isin(np.arange(len(CLASSES)), [CLASSES.index(c) for c in PERMISSIVE]),
              "copyleft": np.arange(len(CLASSES)) == CLASSES.index("copyleft")}
    groups["permissive or copyleft"] = groups["permissive"] | groups["copyleft"]
    aa, bb = np.maximum(a, 0), np.maximum(b, 0)
    events = parent * len(CLASSES) + bb
    flows = [flow(f"restrictive -> {g}", restrictive[aa] & m[bb], m[aa] & restrictive[bb], ok, fam, n_boot, seed,
                  events) for g, m in groups.items()]
    # the shares the paper reports (not a test of direction, see the module docstring)
    shares = {"P(permissive child | restrictive parent)": _share(restrictive[aa] & ok, groups["permissive"][bb]),
              "P(restrictive child | permissive parent)": _share(groups["permissive"][aa] & ok, restrictive[bb])}
    return {"classes": list(CLASSES), "transitions": t, "flows": flows, "shares": shares}


def _share(given: np.ndarray, event: np.ndarray) -> float:
    return float(event[given].mean()) if given.any() else np.nan


# -- languages -------------------------------------------------------------------------------
def language_drift(lineage: Lineage, genome: Genome, n_boot: int = 1000, seed: int = 0) -> dict:
    """Multilingual (several languages or the ``multilingual`` tag) -> English only versus the
    reverse, and the change in the number of declared languages (``multilingual`` counts as one)."""
    lang = genome.group("language").tocsr()
    names = genome.traits[genome.columns("language")]
    count = np.diff(lang.indptr)
    tagged = np.asarray(lang[:, np.flatnonzero(names == "multilingual")].sum(axis=1)).ravel() > 0
    english = np.asarray(lang[:, np.flatnonzero(names == "en")].sum(axis=1)).ravel() > 0
    multi = (count > 1) | tagged
    en_only = (count == 1) & english
    declared = genome.is_declared("language")
    child, parent, fam = _edges(lineage)
    ok = declared[child] & declared[parent]
    flows = [flow("multilingual -> English only", multi[parent] & en_only[child], en_only[parent] & multi[child],
                  ok, fam, n_boot, seed, parent * 2 + en_only[child]),
             flow("fewer languages (vs more)", count[child] < count[parent], count[child] > count[parent],
                  ok, fam, n_boot, seed, parent * (count.max(initial=0) + 1) + count[child])]
    diff = (count[child] - count[parent])[ok]
    return {"flows": flows, "eligible": int(ok.sum()),
            "count_change": {"median": float(np.median(diff)) if len(diff) else np.nan,
                             "fewer": int((diff < 0).sum()), "same": int((diff == 0).sum()),
                             "more": int((diff > 0).sum())}}


# -- tasks and libraries ---------------------------------------------------------------------
def change_rates(lineage: Lineage, genome: Genome, groups=("task", "library"), n_boot: int = 1000,
                 seed: int = 0) -> list[Rate]:
    """Share of edges (both declared) where the group's value changes, overall and per relation."""
    child, parent, fam = _edges(lineage)
    rel = lineage.relation[child]
    out = []
    for g in groups:
        states, _ = categorical(genome, g, top=len(genome.columns(g)))
        ok = (states[child] >= 0) & (states[parent] >= 0)
        changed = states[child] != states[parent]
        out.append(rate(g, changed, ok, fam, n_boot, seed))
        out += [rate(f"{g}, {r} edges", changed, ok & (rel == i), fam, n_boot, seed)
                for i, r in enumerate(RELATIONS) if (ok & (rel == i)).any()]
    return out


# -- model cards -----------------------------------------------------------------------------
def card_lengths(store, n_nodes: int) -> np.ndarray:
    """Card text length in characters per node (-1: no card, or a placeholder)."""
    store.nodes()
    got = store.con.sql("SELECT n.idx, length(m.card) AS len FROM models m JOIN lineage_nodes n USING (id) "
                        "WHERE m.card IS NOT NULL").fetchnumpy()
    out = np.full(n_nodes, -1, np.int64)
    out[np.asarray(got["idx"], np.int64)] = np.asarray(got["len"], np.int64)
    return out


def card_drift(lineage: Lineage, genome: Genome, length: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Card presence (observed parent and child), length as the median log-ratio child/parent,
    and template / auto-generated markers parent vs child (both with a card)."""
    child, parent, fam = _edges(lineage)
    both_obs = lineage.observed[child] & lineage.observed[parent]
    has = length >= 0
    cols = genome.columns("card")
    tokens = genome.traits[cols]
    card = genome.matrix[:, cols].tocsc()

    def marker(mask):
        return np.asarray(card[:, np.flatnonzero(mask)].sum(axis=1)).ravel() > 0

    template = marker(np.char.startswith(tokens.astype(str), "template:"))
    auto = marker(tokens == "auto-generated")
    both = has[child] & has[parent]
    ratio = np.log(np.maximum(length[child], 1) / np.maximum(length[parent], 1))[both]
    flows = [flow("card dropped (vs added)", has[parent] & ~has[child], ~has[parent] & has[child],
                  both_obs, fam, n_boot, seed),
             flow("template gained (vs lost)", ~template[parent] & template[child],
                  template[parent] & ~template[child], both, fam, n_boot, seed),
             flow("auto-generated gained (vs lost)", ~auto[parent] & auto[child],
                  auto[parent] & ~auto[child], both, fam, n_boot, seed)]
    pc = lambda x, m: float(x[m].mean()) if m.any() else np.nan
    return {"flows": flows,
            "log_length_ratio": median("log(child/parent card length)", ratio, fam[both], n_boot, seed),
            "shares": {"card present": (pc(has[parent], both_obs), pc(has[child], both_obs), int(both_obs.sum())),
                       "templated": (pc(template[parent], both), pc(template[child], both), int(both.sum())),
                       "auto-generated": (pc(auto[parent], both), pc(auto[child], both), int(both.sum()))}}


def drift(lineage: Lineage, genome: Genome, card_length: np.ndarray | None = None, n_boot: int = 1000,
          n_perm: int = 100, seed: int = 0) -> dict:
    """All drift analyses (cards only when ``card_length`` is given, see :func:`card_lengths`)."""
    out = {"license": license_drift(lineage, genome, n_boot, n_perm, seed),
           "language": language_drift(lineage, genome, n_boot, seed),
           "change_rates": change_rates(lineage, genome, n_boot=n_boot, seed=seed)}
    if card_length is not None:
        out["cards"] = card_drift(lineage, genome, card_length, n_boot, seed)
    return out


def to_json(d: dict) -> dict:
    """The result of :func:`drift` with plain types only."""
    from .report import transitions_json

    def conv(x):
        if isinstance(x, (Flow, Rate, Median)):
            return {**asdict(x), **({"significant": x.significant} if isinstance(x, Flow) else {})}
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items() if k != "transitions"}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x
    out = conv(d)
    out["license"]["transitions"] = transitions_json(d["license"]["transitions"], list(CLASSES))
    return out


# -- text ------------------------------------------------------------------------------------
def _flow_rows(flows: list[Flow]) -> list[str]:
    rows = [[f.name, f"{f.eligible:,}", f"{f.forward:,}", f"{f.backward:,}", f"{f.log_ratio:+.2f}",
             f"[{f.ci[0]:+.2f}, {f.ci[1]:+.2f}]", f"{f.p:.3g}", "yes" if f.significant else "no"] for f in flows]
    return table(["flow A -> B (vs B -> A)", "edges", "A->B", "B->A", "log ratio", "95% CI", "p", "drift"],
                 rows, right={1, 2, 3, 4, 5, 6})


def drift_report(d: dict) -> str:
    """The drift analyses as text."""
    from .report import transitions_report
    lic, lang = d["license"], d["language"]
    lines = ["== Drift along parent -> child edges ==", "",
             "Conventions: primary edges, both ends declaring what is compared; a flow sets edges "
             "A -> B against B -> A: log ratio = log((A->B + 1/2) / (B->A + 1/2)), 95% CI by family "
             "cluster bootstrap, p by two-sided binomial test; 'drift' needs p < 0.05 and a CI "
             "excluding 0.", "",
             "Licenses (classes: restrictive = non-commercial or model-specific community license):",
             *_flow_rows(lic["flows"]),
             "  " + "; ".join(f"{k} = {v:.3f}" for k, v in lic["shares"].items())
             + " (shares depend on class frequencies; the flows test direction)", "",
             transitions_report(lic["transitions"], list(CLASSES), "license class", "all families"), "",
             "Languages (models declaring languages at both ends):", *_flow_rows(lang["flows"])]
    cc = lang["count_change"]
    lines += [f"  number of languages, child minus parent: median {cc['median']:+.0f}; fewer {cc['fewer']:,}, "
              f"same {cc['same']:,}, more {cc['more']:,}", ""]
    rows = [[r.name, f"{r.eligible:,}", f"{r.changed:,}", f"{r.share:.3f}", f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]"]
            for r in d["change_rates"]]
    lines += ["Change rates per edge (both declared):",
              *table(["trait", "edges", "changed", "share", "95% CI"], rows, right={1, 2, 3, 4}), ""]
    verdict = []
    if "cards" in d:
        c = d["cards"]
        m = c["log_length_ratio"]
        rows = [[k, f"{n:,}", f"{p:.3f}", f"{ch:.3f}"] for k, (p, ch, n) in c["shares"].items()]
        lines += ["Model cards:", *table(["share of edges", "edges", "parent", "child"], rows, right={1, 2, 3}),
                  f"  card length, median log(child/parent) over {m.n:,} edges with both cards: {m.median:+.3f} "
                  f"(95% CI [{m.ci[0]:+.3f}, {m.ci[1]:+.3f}]; child/parent = {np.exp(m.median):.2f})",
                  *_flow_rows(c["flows"]), ""]
        if m.ci[1] < 0:
            verdict.append("cards get shorter")
    flows = lic["flows"] + lang["flows"] + d.get("cards", {}).get("flows", [])
    verdict = [f"{f.name.split(' (')[0]} {'outnumbers' if f.log_ratio > 0 else 'is outnumbered by'} the reverse "
               f"({f.forward:,} vs {f.backward:,})" for f in flows if f.significant] + verdict
    lines.append("What it means: " + ("; ".join(verdict) if verdict else
                                      "no directional drift beyond chance in licenses, languages or cards") + ".")
    return "\n".join(lines)
