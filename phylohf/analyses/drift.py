"""Drift along parent -> child edges: licenses, languages, tasks, libraries, model cards.

Conventions: primary parent -> child edges, each counted once, where both ends declare
what is compared (eligibility fixed before any resampling). A *flow* compares edges
moving one way (A -> B) with the reverse (B -> A), described by its counts and the
percentile cluster bootstrap over families of log((forward + 1/2) / (backward + 1/2)).
The flows are descriptive: edges below one parent share its state, and a flow follows
the founders' states (restrictive founders make restrictive -> open edges common with no
direction at all). The claims of direction are tested by the null engine
(:mod:`phylohf.phylo.null`): the net flow over all edges (forward minus backward) against the
same statistic on characters re-simulated down the same trees under the symmetric model
(each pair of states exchanging at one rate each way, per relation type, with hidden rate
classes of parents), from the observed founders, declared exactly where the data are:
"direction beyond what the founders and unequal rates among parents produce". Card
length compares child and parent by the median log-ratio (natural log) with the same
family bootstrap, and its claim by the net flow between length classes (powers of two).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..genealogy.genome import Genome
from ..genealogy.lineage import Lineage
from ..genealogy.licensing import CLASSES, class_states
from ..genealogy.traits import categorical, license_ids
from ..text import table
from ..phylo.claims import Claim, claim_tests
from ..phylo.null import dense_codes, net_flow, ordinal_flow
from ..phylo.parallel import in_chunks, unit_counts
from ..phylo.transitions import ordering_statistic, transitions
from ..sources.records import RELATIONS
from .relatives import PATTERN_LIMIT, patterns
from ..result import Result

RESTRICTIVE = ("non-commercial", "community")
PERMISSIVE = ("permissive", "public-domain")
OPEN = (*PERMISSIVE, "copyleft")
MAX_LANGUAGES = 6            # language counts from this many up are one state of the count character
SECTION = "drift"


@dataclass
class Flow:
    """Edges moving ``forward`` (A -> B) against ``backward`` (B -> A): descriptive counts."""

    name: str
    forward: int
    backward: int
    eligible: int              # edges where both ends are known
    log_ratio: float           # log((forward + 1/2) / (backward + 1/2))
    ci: tuple[float, float]


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
    with replacement; an edge's weight is how often its family was drawn. Replicates come in
    chunks (memory stays bounded), each chunk from its own random stream, on one thread per
    core."""

    CHUNK = 32

    def __init__(self, family: np.ndarray, n_boot: int, seed: int):
        uniq, self.codes = dense_codes(family)
        self.k = len(uniq)
        self.n_boot, self.seed = n_boot, seed

    def replicates(self, f) -> list:
        """``f(weights)`` of every chunk of replicates, ``weights`` its (m, families) draw counts."""
        return in_chunks(lambda m, rng: f(unit_counts(rng, m, self.k)), self.n_boot, self.CHUNK, self.seed)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(replicates, columns) bootstrap sums of per-edge ``values`` (edges x columns)."""
        per_family = np.column_stack([np.bincount(self.codes, v, self.k) for v in values.T])
        return np.vstack(self.replicates(lambda w: w @ per_family))

    def medians(self, values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        v, c = values[order], self.codes[order]

        def chunk(w):
            cum = np.cumsum(w[:, c], axis=1)
            return v[np.minimum((cum < cum[:, -1:] / 2).sum(axis=1), len(v) - 1)]
        return np.concatenate(self.replicates(chunk))


def _ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    return (float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))) if len(x) else (np.nan, np.nan)


def flow(name: str, forward: np.ndarray, backward: np.ndarray, eligible: np.ndarray,
         family: np.ndarray, n_boot: int = 1000, seed: int = 0) -> Flow:
    """A flow from per-edge booleans (``forward``, ``backward``) over ``eligible`` edges."""
    f, b, fam = forward[eligible], backward[eligible], family[eligible]
    nf, nb = int(f.sum()), int(b.sum())
    boot = _Clusters(fam, n_boot, seed).sums(np.column_stack([f, b]).astype(float))
    lr = np.log((boot[:, 0] + 0.5) / (boot[:, 1] + 0.5))
    return Flow(name, nf, nb, int(eligible.sum()), float(np.log((nf + 0.5) / (nb + 0.5))), _ci(lr))


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


# A claim about a lumped state (a license class, "multilingual", a number of languages) is
# tested on the finest character (license id, language set: the PATTERN_LIMIT most frequent
# sets, models with a rarer one left out of the test), simulated symmetric among those, and
# its statistic computed on the lumped states: symmetric change among license ids is no
# drift, while the classes it induces are not symmetric (a class with more ids draws more
# changes; :func:`~phylohf.genealogy.traits.license_ids`). Card features are each a character
# of their own.


# -- licenses --------------------------------------------------------------------------------
def _mask(names, chosen) -> np.ndarray:
    return np.isin(np.arange(len(names)), [names.index(c) for c in chosen])


def license_drift(lineage: Lineage, genome: Genome, n_boot: int = 1000, null: int = 200,
                  seed: int = 0) -> dict:
    """Class-level transition matrix, the flows restrictive (non-commercial, model licenses)
    -> permissive / copyleft versus the reverse, and the claims of drift to open licenses
    and of one ordering of the classes (both against the symmetric null)."""
    states, names = license_ids(genome)
    cls = class_states(states, names)
    lut = class_states(np.arange(len(names)), names)
    k = len(CLASSES)
    t = transitions(lineage.parent, cls, k)
    child, parent, fam = _edges(lineage)
    a, b = cls[parent], cls[child]
    ok = (a >= 0) & (b >= 0)
    restrictive = _mask(CLASSES, RESTRICTIVE)
    groups = {"permissive": _mask(CLASSES, PERMISSIVE), "copyleft": _mask(CLASSES, ["copyleft"])}
    groups["permissive or copyleft"] = groups["permissive"] | groups["copyleft"]
    aa, bb = np.maximum(a, 0), np.maximum(b, 0)
    flows = [flow(f"restrictive -> {g}", restrictive[aa] & m[bb], m[aa] & restrictive[bb], ok, fam, n_boot, seed)
             for g, m in groups.items()]
    claims = claim_tests(lineage, states, len(names), {
        "license_drift:restrictive_to_open": (
            "licenses move from restrictive to open (permissive, public-domain, copyleft) more than back, "
            "beyond what the founders and unequal rates produce", net_flow(
                lineage.parent, k, np.flatnonzero(restrictive), np.flatnonzero(_mask(CLASSES, OPEN)), lut)),
        "license_class_ordering": ("license classes change at rates that follow one order (" + " < ".join(
            CLASSES[i] for i in t.rate_ordering.order) + ")", ordering_statistic(lineage.parent, k, lut))},
        null, seed, SECTION)
    # the shares the paper reports (not a test of direction, see the module docstring)
    shares = {"P(permissive child | restrictive parent)": _share(restrictive[aa] & ok, groups["permissive"][bb]),
              "P(restrictive child | permissive parent)": _share(groups["permissive"][aa] & ok, restrictive[bb])}
    return {"classes": list(CLASSES), "transitions": t, "flows": flows, "shares": shares, "claims": claims}


def _share(given: np.ndarray, event: np.ndarray) -> float:
    return float(event[given].mean()) if given.any() else np.nan


# -- languages -------------------------------------------------------------------------------
def language_drift(lineage: Lineage, genome: Genome, n_boot: int = 1000, null: int = 200, seed: int = 0) -> dict:
    """Multilingual (several languages or the ``multilingual`` tag) -> English only versus the
    reverse, and the change in the number of declared languages (``multilingual`` counts as
    one); their claims against the symmetric null of a three-state character (multilingual,
    English only, another single language) and of the count (MAX_LANGUAGES and more as one)."""
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
                  ok, fam, n_boot, seed),
             flow("fewer languages (vs more)", count[child] < count[parent], count[child] > count[parent],
                  ok, fam, n_boot, seed)]
    sets, rep = patterns(lang, declared, PATTERN_LIMIT)
    kind = np.where(multi, 0, np.where(en_only, 1, 2))[rep]       # multilingual, English only, other
    size = np.minimum(np.maximum(count, 1), MAX_LANGUAGES)[rep] - 1
    claims = claim_tests(lineage, sets, len(rep), {
        "language_drift:multilingual_to_english": (
            "multilingual models have English-only children more than the reverse, beyond the symmetric null",
            net_flow(lineage.parent, 3, [0], [1], kind)),
        "language_drift:fewer_languages": (
            "children declare fewer languages than their parents more often than more, beyond the symmetric null",
            ordinal_flow(lineage.parent, MAX_LANGUAGES, size))}, null, seed, SECTION)
    diff = (count[child] - count[parent])[ok]
    return {"flows": flows, "eligible": int(ok.sum()), "claims": claims,
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


def card_drift(lineage: Lineage, genome: Genome, length: np.ndarray, n_boot: int = 1000, null: int = 200,
               seed: int = 0) -> dict:
    """Card presence (observed parent and child), length as the median log-ratio child/parent,
    and template / auto-generated markers parent vs child (both with a card); the claims of
    direction against the symmetric null of each as a character (presence over observed
    models; markers and length class, a power of two, over models with a card)."""
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
    # each feature its own character (presence over observed models; markers and the length
    # class, a power of two, over models with a card), symmetric under the null
    up, parent_ = net_flow(lineage.parent, 2, [0], [1]), lineage.parent
    bins = np.where(has, np.ceil(np.log2(np.maximum(length, 1))), -1).astype(np.int64)
    bins = np.where(has, bins - bins[has].min(initial=0), -1)
    k = int(bins.max(initial=0)) + 1
    claims = [c for cid, states, kk, statement, statistic in (
        ("card_drift:dropped", np.where(lineage.observed, has, -1), 2,
         "children drop their parent's model card more often than they add one", net_flow(parent_, 2, [1], [0])),
        ("card_drift:template", np.where(has, template, -1), 2,
         "children's cards become templated more often than the reverse", up),
        ("card_drift:auto_generated", np.where(has, auto, -1), 2,
         "children's cards become auto-generated more often than the reverse", up),
        ("card_drift:shorter", bins, k, "children's cards are shorter than their parents' more often than "
         "longer (length classes, powers of two)", ordinal_flow(parent_, k)))
        for c in claim_tests(lineage, states.astype(np.int64), kk, {cid: (statement, statistic)}, null, seed,
                             SECTION)]
    pc = lambda x, m: float(x[m].mean()) if m.any() else np.nan
    return {"flows": flows, "claims": claims,
            "log_length_ratio": median("log(child/parent card length)", ratio, fam[both], n_boot, seed),
            "shares": {"card present": (pc(has[parent], both_obs), pc(has[child], both_obs), int(both_obs.sum())),
                       "templated": (pc(template[parent], both), pc(template[child], both), int(both.sum())),
                       "auto-generated": (pc(auto[parent], both), pc(auto[child], both), int(both.sum()))}}


def drift(lineage: Lineage, genome: Genome, card_length: np.ndarray | None = None, n_boot: int = 1000,
          null: int = 200, seed: int = 0) -> dict:
    """All drift analyses (cards only when ``card_length`` is given, see :func:`card_lengths`);
    ``null`` replicates of the null engine per claim (0: descriptive only). ``claims`` lists
    every claim made, not yet adjusted across claims (:func:`phylohf.phylo.claims.adjust`)."""
    out = {"license": license_drift(lineage, genome, n_boot, null, seed),
           "language": language_drift(lineage, genome, n_boot, null, seed),
           "change_rates": change_rates(lineage, genome, n_boot=n_boot, seed=seed)}
    if card_length is not None:
        out["cards"] = card_drift(lineage, genome, card_length, n_boot, null, seed)
    out["claims"] = [c for part in ("license", "language", "cards") for c in out.get(part, {}).get("claims", [])]
    return out


@dataclass
class Drift(Result):
    """The drift analyses (:func:`drift`), claims adjusted beforehand (:func:`phylohf.phylo.claims.adjust`)."""

    result: dict

    def to_dict(self) -> dict:
        """The result in plain types."""
        d = self.result

        def conv(x):
            if isinstance(x, (Flow, Rate, Median)):
                return asdict(x)
            if isinstance(x, Claim):
                return x.to_json()
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items() if k != "transitions"}
            if isinstance(x, (list, tuple)):
                return [conv(v) for v in x]
            return x
        out = conv(d)
        out["license"]["transitions"] = d["license"]["transitions"].to_json(list(CLASSES))
        return out

    def text(self) -> str:
        """The drift analyses as text."""
        from ..phylo.claims import meaning, table as claim_table
        d = self.result
        lic, lang = d["license"], d["language"]
        lines = ["== Drift along parent -> child edges ==", "",
                 "Conventions: primary edges, both ends declaring what is compared; a flow sets edges "
                 "A -> B against B -> A: log ratio = log((A->B + 1/2) / (B->A + 1/2)), 95% CI by family "
                 "cluster bootstrap. Flows describe; they are not tests (edges below one parent share its state, "
                 "and flows follow the founders). The claims below set the net flow against the symmetric null "
                 "from the observed founders (the null engine).", "",
                 "Licenses (classes: restrictive = non-commercial or model-specific community license):",
                 *_flow_rows(lic["flows"]),
                 "  " + "; ".join(f"{k} = {v:.3f}" for k, v in lic["shares"].items())
                 + " (shares depend on class frequencies)", "",
                 lic["transitions"].text(list(CLASSES), "license class", "all families"), "",
                 "Languages (models declaring languages at both ends):", *_flow_rows(lang["flows"])]
        cc = lang["count_change"]
        lines += [f"  number of languages, child minus parent: median {cc['median']:+.0f}; fewer {cc['fewer']:,}, "
                  f"same {cc['same']:,}, more {cc['more']:,}", ""]
        rows = [[r.name, f"{r.eligible:,}", f"{r.changed:,}", f"{r.share:.3f}", f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]"]
                for r in d["change_rates"]]
        lines += ["Change rates per edge (both declared):",
                  *table(["trait", "edges", "changed", "share", "95% CI"], rows, right={1, 2, 3, 4}), ""]
        if "cards" in d:
            c = d["cards"]
            m = c["log_length_ratio"]
            rows = [[k, f"{n:,}", f"{p:.3f}", f"{ch:.3f}"] for k, (p, ch, n) in c["shares"].items()]
            lines += ["Model cards:", *table(["share of edges", "edges", "parent", "child"], rows, right={1, 2, 3}),
                      f"  card length, median log(child/parent) over {m.n:,} edges with both cards: {m.median:+.3f} "
                      f"(95% CI [{m.ci[0]:+.3f}, {m.ci[1]:+.3f}]; child/parent = {np.exp(m.median):.2f})",
                      *_flow_rows(c["flows"]), ""]
        if d["claims"]:
            lines += [f"Claims (null: {d['claims'][0].null}; {d['claims'][0].replicates:,} replicates; q: "
                      "Benjamini-Hochberg across the claims):", *claim_table(d["claims"]), ""]
        lines.append(meaning(d["claims"]))
        return "\n".join(lines)


def _flow_rows(flows: list[Flow]) -> list[str]:
    rows = [[f.name, f"{f.eligible:,}", f"{f.forward:,}", f"{f.backward:,}", f"{f.log_ratio:+.2f}",
             f"[{f.ci[0]:+.2f}, {f.ci[1]:+.2f}]"] for f in flows]
    return table(["flow A -> B (vs B -> A)", "edges", "A->B", "B->A", "log ratio", "95% CI"], rows,
                 right={1, 2, 3, 4, 5})
