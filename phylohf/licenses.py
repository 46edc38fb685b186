"""License classes and the upstream-compatibility audit of parent -> child edges.

Classes (``CLASSES``): ``permissive``, ``public-domain``, ``copyleft`` (share-alike),
``non-commercial``, ``community`` (model-specific licenses: Llama, Gemma, the RAIL
family) and ``other`` (``other`` without a known name, ``unknown`` and every id not in
``TABLE``: never a crash, never judged). ``TABLE`` names the source of each
classification: the SPDX license list with the OSI / FSF category, the Creative Commons
deed, or the license text itself. A card's ``license: other`` with a ``license_name`` is
the id ``other:<name>``, classified by ``NAMES`` (e.g. ``other:mrl``, the non-commercial
Mistral AI Research License), by ``TABLE`` when the name is a Hub id, or as
non-commercial when the name says so; other names stay unclassified. Flags: ``nd`` (no derivatives: cc-by-nd is classed permissive, as it allows
commercial use, but no derivative may follow it), ``weak`` (weak / file-level copyleft,
whose reach over model weights is unclear), ``rail`` (the RAIL family).

Rules (``RULES``): an edge fires at most one, checked in this order; ``certain`` is
False where the license text leaves room (RAIL licenses allow other terms for
derivatives if the use restrictions are passed on; weak copyleft; switching between
two restrictive licenses). Edges where either license is ``other`` or undeclared are
not judged; a model without a license can be imputed from its relatives (Mk ER
marginals, :func:`impute`) and those edges are reported apart, never as violations: the
*expected* number of violations among them, each edge weighted by the posterior
probability that its (parent, child) pair breaks a rule, with a 95% interval from joint
posterior draws of the whole forest (:func:`expected_violations`), so edges sharing an
imputed model are never counted as independent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .lineage import Lineage
from .overview import table
from .records import RELATIONS
from .result import Result, frame

CLASSES = ("permissive", "public-domain", "copyleft", "non-commercial", "community", "other")
PERMISSIVE, PUBLIC_DOMAIN, COPYLEFT, NON_COMMERCIAL, COMMUNITY, OTHER = range(len(CLASSES))

_SPDX_OSI = "SPDX list; OSI-approved permissive"
_SPDX_FSF = "SPDX list; FSF copyleft"
_CC = "Creative Commons license deed"

# license id -> (class, family, flags, source of the classification)
TABLE: dict[str, tuple[str, str, str, str]] = {
    **{k: ("permissive", k, "", _SPDX_OSI) for k in (
        "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
        "bsd-3-clause-clear", "ecl-2.0", "isc", "ncsa", "postgresql", "zlib")},
    "wtfpl": ("permissive", "wtfpl", "", "SPDX list; FSF free, no conditions"),
    "lppl-1.3c": ("permissive", "lppl", "", "SPDX list; LaTeX Project (permissive with renaming)"),
    "apple-ascl": ("permissive", "apple-ascl", "", "Apple Sample Code License text (permissive)"),
    "openmdw-1.0": ("permissive", "openmdw", "", "OpenMDW license text (permissive for model materials)"),
    "etalab-2.0": ("permissive", "etalab", "", "Etalab Licence Ouverte 2.0 text (attribution only)"),
    **{f"cc-by-{v}": ("permissive", "cc-by", "", _CC + " (BY: attribution only)") for v in ("2.0", "2.5", "3.0", "4.0")},
    **{k: ("permissive", k, "", "Linux Foundation CDLA text (permissive data license)")
       for k in ("cdla-permissive-1.0", "cdla-permissive-2.0")},
    "odc-by": ("permissive", "odc-by", "", "Open Data Commons ODC-By text (attribution only)"),
    "cc0-1.0": ("public-domain", "cc0", "", _CC + " (CC0 public-domain dedication)"),
    "unlicense": ("public-domain", "unlicense", "", "SPDX list; OSI-approved public-domain dedication"),
    "pddl": ("public-domain", "pddl", "", "Open Data Commons PDDL text (public domain)"),
    **{k: ("copyleft", "gpl", "", _SPDX_FSF) for k in ("gpl", "gpl-2.0", "gpl-3.0")},
    "agpl-3.0": ("copyleft", "agpl", "", _SPDX_FSF + " (network)"),
    **{k: ("copyleft", "lgpl", "weak", _SPDX_FSF + " (weak, library)") for k in ("lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr")},
    **{k: ("copyleft", k.rsplit("-", 1)[0], "weak", "SPDX list; OSI weak (file-level) copyleft")
       for k in ("mpl-2.0", "epl-1.0", "epl-2.0", "ms-pl")},
    **{k: ("copyleft", "eupl", "", "SPDX list; OSI copyleft") for k in ("eupl-1.1", "eupl-1.2")},
    "osl-3.0": ("copyleft", "osl", "", "SPDX list; OSI copyleft"),
    "gfdl": ("copyleft", "gfdl", "", _SPDX_FSF + " (documentation)"),
    "ofl-1.1": ("copyleft", "ofl", "weak", "SPDX list; SIL Open Font License (derivatives stay OFL)"),
    **{f"cc-by-sa-{v}": ("copyleft", "cc-by-sa", "", _CC + " (SA: share-alike)") for v in ("2.0", "3.0", "4.0")},
    "cdla-sharing-1.0": ("copyleft", "cdla-sharing", "", "Linux Foundation CDLA-Sharing text (share-alike)"),
    "odbl": ("copyleft", "odbl", "", "Open Data Commons ODbL text (share-alike)"),
    **{f"cc-by-nc-{v}": ("non-commercial", "cc-by-nc", "", _CC + " (NC)") for v in ("2.0", "3.0", "4.0")},
    **{f"cc-by-nc-sa-{v}": ("non-commercial", "cc-by-nc-sa", "", _CC + " (NC, SA)") for v in ("2.0", "3.0", "4.0")},
    **{f"cc-by-nc-nd-{v}": ("non-commercial", "cc-by-nc-nd", "nd", _CC + " (NC, ND)") for v in ("3.0", "4.0")},
    "cc-by-nd-4.0": ("permissive", "cc-by-nd", "nd", _CC + " (ND: no adapted material may be shared)"),
    "fair-noncommercial-research-license": ("non-commercial", "fair-nc", "", "Meta FAIR license text (research only)"),
    "deepfloyd-if-license": ("non-commercial", "deepfloyd-if", "", "DeepFloyd IF license text (research only)"),
    "apple-amlr": ("non-commercial", "apple-amlr", "", "Apple ML Research license text (research only)"),
    "intel-research": ("non-commercial", "intel-research", "", "Intel research license text (research only)"),
    "llama2": ("community", "llama2", "", "Llama 2 Community License (derivatives carry its terms)"),
    **{k: ("community", "llama3", "", "Llama 3.x Community License (derivatives carry its terms)")
       for k in ("llama3", "llama3.1", "llama3.2", "llama3.3")},
    "llama4": ("community", "llama4", "", "Llama 4 Community License (derivatives carry its terms)"),
    "gemma": ("community", "gemma", "", "Gemma Terms of Use (derivatives carry its terms)"),
    **{k: ("community", "openrail", "rail", "RAIL license text (use restrictions must be passed on)")
       for k in ("openrail", "openrail++", "creativeml-openrail-m", "bigscience-openrail-m",
                 "bigscience-bloom-rail-1.0", "bigcode-openrail-m")},
}


# ``license: other`` comes with a ``license_name``; the genomes keep it as the id ``other:<name>``
# (lower case). license_name -> (class, family, flags, source), for the names met on real cards
NAMES: dict[str, tuple[str, str, str, str]] = {
    "mrl": ("non-commercial", "mistral-research", "", "Mistral AI Research License text (research and "
            "non-commercial use only)"),
    "mnpl": ("non-commercial", "mistral-non-production", "", "Mistral AI Non-Production License text "
             "(no production or commercial use)"),
    "exaone": ("non-commercial", "exaone", "", "EXAONE AI Model License Agreement 1.1 - NC text (research only)"),
    "microsoft-research-license": ("non-commercial", "microsoft-research", "", "Microsoft Research "
                                   "License text (non-commercial research only)"),
    "qwen-research": ("non-commercial", "qwen-research", "", "Qwen Research License text (non-commercial)"),
    "flux-1-dev-non-commercial-license": ("non-commercial", "flux-1-dev", "", "FLUX.1 [dev] Non-Commercial "
                                          "License text"),
    "stabilityai-nc-research-community": ("non-commercial", "stabilityai-nc", "", "Stability AI "
                                          "Non-Commercial Research Community License text"),
    **{k: ("community", "qwen", "", "Tongyi Qianwen License text (commercial use below a user threshold; "
           "derivatives carry its terms)") for k in ("qwen", "tongyi-qianwen")},
    **{k: ("community", "deepseek", "rail", "DeepSeek License Agreement text (OpenRAIL-style use "
           "restrictions passed on)") for k in ("deepseek", "deepseek-license")},
    "stabilityai-ai-community": ("community", "stabilityai", "", "Stability AI Community License text "
                                 "(commercial use below a revenue threshold)"),
    "yi-license": ("community", "yi", "", "Yi Series Models License text (derivatives carry its terms)"),
    "falcon-llm-license": ("community", "falcon", "", "TII Falcon License text (derivatives carry its terms)"),
    "nvidia-open-model-license": ("community", "nvidia-open-model", "", "NVIDIA Open Model License text "
                                  "(model-specific terms passed on)"),
    "health-ai-developer-foundations": ("community", "hai-def", "", "Health AI Developer Foundations terms "
                                        "of use (derivatives carry its terms)"),
}
_NAMED_NC = ("non-commercial", "noncommercial")      # a name that says so is taken at its word


def entry(license_id: str | None) -> tuple[str, str, str, str] | None:
    """(class, family, flags, source) of a Hub license id or an ``other:<license_name>`` id, or
    None (unclassified: ``other`` without a known name, ``unknown``, anything else). A name
    that is itself a Hub id (``other:llama4``) counts as that id."""
    key = (license_id or "").strip().lower()
    name = key[len("other:"):] if key.startswith("other:") else None
    if name is None:
        return TABLE.get(key)
    if found := NAMES.get(name) or TABLE.get(name):
        return found
    if any(word in name for word in _NAMED_NC):
        return "non-commercial", name, "", "the license's own name (license_name) says non-commercial"
    return None


@dataclass(frozen=True)
class Rule:
    name: str
    certain: bool
    meaning: str


RULES = (
    Rule("no-derivatives", True, "parent forbids sharing adapted material (CC ND)"),
    Rule("non-commercial-lifted", True, "non-commercial parent, child allows commercial use"),
    Rule("non-commercial-to-community", False, "non-commercial parent, child under a model "
         "license that usually allows commercial use"),
    Rule("share-alike-dropped", True, "share-alike parent, child not under a share-alike license"),
    Rule("weak-copyleft-dropped", False, "weak-copyleft parent, child not copyleft (reach over weights unclear)"),
    Rule("share-alike-switched", False, "share-alike parent, child under another share-alike license"),
    Rule("community-relicensed", True, "Llama/Gemma-licensed parent, child under a permissive, "
         "public-domain or copyleft license"),
    Rule("rail-relicensed", False, "RAIL-licensed parent, child under an open license (allowed only "
         "if the use restrictions are kept)"),
    Rule("community-switched", False, "model-licensed parent, child under another model or "
         "non-commercial license"),
)
RULE = {r.name: i for i, r in enumerate(RULES)}


def classify(license_id: str | None) -> str:
    """The class of a license id (:func:`entry`; unclassified ids and None are ``other``)."""
    found = entry(license_id)
    return found[0] if found else "other"


def rule_for(parent: str | None, child: str | None) -> Rule | None:
    """The rule a parent -> child license pair breaks, or None (allowed, or not judged)."""
    p, c = entry(parent), entry(child)
    if p is None or c is None or parent.strip().lower() == child.strip().lower():
        return None
    (pc, pf, pflags, _), (cc, cf, _, _) = p, c
    open_ = cc in ("permissive", "public-domain", "copyleft")
    if "nd" in pflags:
        name = "no-derivatives"
    elif pc == "non-commercial":
        name = ("non-commercial-lifted" if open_ else
                "non-commercial-to-community" if cc == "community" else None)
    elif pc == "copyleft":
        name = (("weak-copyleft-dropped" if "weak" in pflags else "share-alike-dropped") if cc != "copyleft"
                else "share-alike-switched" if cf != pf else None)
    elif pc == "community":
        name = (("rail-relicensed" if "rail" in pflags else "community-relicensed") if open_
                else "community-switched" if cf != pf else None)
    else:
        name = None
    return RULES[RULE[name]] if name else None


def pair_rules(names: list[str]) -> np.ndarray:
    """(k, k) rule index (-1 none) for every pair of the license ids ``names``."""
    k = len(names)
    out = np.full((k, k), -1, np.int64)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            r = rule_for(a, b)
            out[i, j] = -1 if r is None else RULE[r.name]
    return out


def class_states(states: np.ndarray, names: list[str]) -> np.ndarray:
    """License-id states (-1 unknown) mapped to class indices (-1 unknown)."""
    lut = np.array([CLASSES.index(classify(n)) for n in names] + [-1], np.int64)
    return lut[np.where(states >= 0, states, len(names))]


# -- the audit -------------------------------------------------------------------------------
def edges(lineage: Lineage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(child, parent, relation) of every edge: primary, then reticulation (merge) edges."""
    child = np.flatnonzero(lineage.parent >= 0)
    return (np.concatenate([child, lineage.extra_child]),
            np.concatenate([lineage.parent[child], lineage.extra_parent]),
            np.concatenate([lineage.relation[child], lineage.extra_relation]).astype(np.int64))


@dataclass
class Imputation:
    """Most probable license of models that declare none, from their relatives."""

    nodes: np.ndarray          # node indices imputed
    state: np.ndarray          # index into names
    probability: np.ndarray
    names: list[str]
    loglik: float
    conventions: str
    states: np.ndarray         # the model's states of every node (-1 unknown), indices into names
    Q: np.ndarray              # its fitted rate matrix (unit branch lengths, root prior equal)


@dataclass
class Audit(Result):
    """``phylohf audit-licenses``: the edges that break a rule, counted and listed."""

    scope: str
    edges: int                                  # edges in scope
    judged: int                                 # both licenses known and classified
    violations: list[dict]
    by_rule: dict[str, dict]
    by_relation: dict[str, dict]
    families: list[dict]                        # worst first
    class_counts: dict[str, int]
    imputed: list[dict] = field(default_factory=list)
    expected: dict | None = None                # expected violations among edges with an imputed end
    imputation: str = ""
    top: int = 10                               # worst families shown in the text
    examples: int = 10                          # violations shown in the text (to_dict lists all)

    def to_dict(self) -> dict:
        return {"scope": self.scope, "edges": self.edges, "judged": self.judged,
                "violations": self.violations, "counts": {"by_rule": self.by_rule,
                                                           "by_relation": self.by_relation,
                                                           "by_family": self.families},
                "worst_families": self.families[:10], "license_classes": self.class_counts,
                "imputed": self.imputed, "expected_violations": self.expected,
                "imputation": self.imputation}

    def to_frame(self):
        """One row per violation."""
        return frame(self.violations)

    def text(self) -> str:
        """The audit as text: rules, relation types, worst families, examples and imputations."""
        a, top, examples = self, self.top, self.examples
        n_viol = len(a.violations)
        n_sure = sum(v["certain"] for v in a.violations)
        lines = [f"== License audit ({a.scope}) ==", "",
                 "Conventions: every parent -> child edge (merge parents included); license ids mapped to "
                 "classes by the documented table in phylohf.licenses; an edge is judged when both licenses "
                 "are declared and classified (not 'unknown', nor 'other' without a known license_name); 'certain' marks rules the license text "
                 "settles, the rest may be lawful under conditions.", "",
                 f"edges: {a.edges:,}, judged {a.judged:,}; violations {n_viol:,} "
                 f"({n_viol / max(a.judged, 1):.1%} of judged), {n_sure:,} of them certain", "",
                 "Models by license class: " + ", ".join(f"{k} {v:,}" for k, v in a.class_counts.items()), ""]
        if a.by_rule:
            rows = [[r.name, f"{a.by_rule[r.name]['violations']:,}", f"{a.by_rule[r.name]['certain']:,}",
                     "yes" if r.certain else "no", r.meaning] for r in RULES if r.name in a.by_rule]
            lines += ["By rule:", *table(["rule", "edges", "certain", "rule certain", "meaning"], rows,
                                         right={1, 2}), ""]
            rows = [[k, f"{v['judged']:,}", f"{v['violations']:,}", f"{v['certain']:,}",
                     f"{v['violations'] / max(v['judged'], 1):.1%}"] for k, v in a.by_relation.items()]
            lines += ["By relation type:", *table(["relation", "judged", "violations", "certain", "share"], rows,
                                                  right={1, 2, 3, 4}), ""]
            rows = [[f["root"], f"{f['judged_edges']:,}", f"{f['violations']:,}", f"{f['certain']:,}",
                     f"{f['share']:.1%}"] for f in a.families[:top]]
            lines += [f"Worst families (top {len(rows)} by violations):",
                      *table(["family root", "judged", "violations", "certain", "share"], rows, right={1, 2, 3, 4}), ""]
            rows = [[v["parent"], v["child"], v["relation"], f"{v['parent_license']} -> {v['child_license']}",
                     v["rule"], "yes" if v["certain"] else "no"] for v in a.violations[:examples]]
            lines += [f"Examples (first {len(rows)}; --json lists all):",
                      *table(["parent", "child", "relation", "licenses", "rule", "certain"], rows), ""]
        if a.imputed:
            p = np.array([x["probability"] for x in a.imputed])
            by = {}
            for x in a.imputed:
                by[x["license"]] = by.get(x["license"], 0) + 1
            e = a.expected
            lines += [f"Models without a license, imputed from relatives: {len(a.imputed):,} "
                      f"(probability median {np.median(p):.2f}, {np.mean(p >= 0.9):.0%} at 0.9 or more); "
                      + ", ".join(f"{k} {v:,}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])),
                      f"  {a.imputation}",
                      f"  expected violations among the {e['edges']:,} edges with an imputed end ({e['both_imputed']:,} "
                      f"with both; not counted above): {e['expected']:.1f}, 95% interval {e['ci95'][0]:.0f} to "
                      f"{e['ci95'][1]:.0f} over {e['draws']:,} joint posterior draws of the forest (edges sharing "
                      f"a model are dependent); certain rules {e['certain']:.1f}"
                      + ("; by rule: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(e["by_rule"].items(),
                                                                                    key=lambda kv: -kv[1]))
                         if e["by_rule"] else ""), ""]
        elif a.imputation:
            lines += [f"Models without a license: {a.imputation}.", ""]
        lines.append(f"What it means: {n_viol:,} of {a.judged:,} judged edges carry a child license that "
                     "cannot lawfully follow from the parent's" + (" (certain rules only: "
                     f"{n_sure:,})" if n_sure != n_viol else "") + ".")
        return "\n".join(lines)


def impute(lineage: Lineage, states: np.ndarray, names: list[str], seed: int = 1) -> Imputation:
    """Mk ER fit (root prior equal, unit branch lengths) and marginal posteriors of the license
    states; returns observed models without a license whose family has a known license."""
    from .phylo.reconstruct import reconstruct
    r = reconstruct(lineage, states, len(names), np.where(lineage.parent >= 0, 1.0, np.nan), "ER",
                    starts=1, seed=seed)
    nodes = r.imputed[lineage.observed[r.imputed]]
    marg = r.marginals
    return Imputation(nodes, marg.map_state[nodes], marg.posterior[nodes].max(axis=1), names, r.fit.loglik,
                      "Mk ER by maximum likelihood over the license states (most frequent ids, "
                      "'(rare)' lumps the rest), root prior equal, unit branch lengths; marginal "
                      "posteriors by the two-pass algorithm", states, r.fit.Q)


DRAWS = 400         # joint posterior draws behind the interval of the expected violations
BATCH = 50          # drawn at a time


def expected_violations(lineage: Lineage, child: np.ndarray, parent: np.ndarray, states: np.ndarray,
                        names: list[str], imp: Imputation, imputed: np.ndarray, draws: int = DRAWS,
                        seed: int = 1) -> dict:
    """Expected violations among the edges ``parent -> child`` with an imputed end (``imputed``:
    node mask) and the other end known or imputed.

    An edge's probability of breaking rule r is the posterior mass of its license pairs that
    break r: from the imputed end's marginal when the other end is known, from the exact pair
    posterior of a primary edge with both ends imputed (:func:`~.phylo.asr.pair_posteriors`),
    from the draws for a merge edge with both ends imputed. The 95% interval is the 2.5 and
    97.5% quantiles of the violation count over ``draws`` joint draws of every imputed state
    (forward filtering, backward sampling), which keeps the dependence of edges that share an
    imputed model or a lineage. Imputed ``(rare)`` licenses are not judged."""
    from .phylo.asr import JointSampler, marginal, pair_posteriors
    known = states >= 0
    use = (imputed[parent] | imputed[child]) & (known[parent] | imputed[parent]) & (known[child] | imputed[child])
    child, parent = child[use], parent[use]
    K, k = len(names), len(imp.names)
    V = np.full((K + 1, K + 1), -1, np.int64)          # rule of a pair of full ids; K: not judged
    V[:K, :K] = pair_rules(names)
    code = {n: i for i, n in enumerate(names)}
    lut = np.array([code.get(n, K) for n in imp.names], np.int64)
    lengths = np.where(lineage.parent >= 0, 1.0, np.nan)
    post = marginal(lineage, imp.states, imp.Q, lengths).posterior
    prob = np.zeros((len(child), len(RULES) + 1))      # per edge: P(rule r), last column: none

    def add(rows, rule, w):
        cell = rows * (len(RULES) + 1) + np.where(rule >= 0, rule, len(RULES))
        prob.flat[:] += np.bincount(cell, weights=w, minlength=prob.size)
    one = np.flatnonzero(~(imputed[parent] & imputed[child]))
    kid, dad = one[imputed[child[one]]], one[imputed[parent[one]]]      # which end is imputed
    add(np.repeat(kid, k), V[states[parent[kid]][:, None], lut[None, :]].ravel(), post[child[kid]].ravel())
    add(np.repeat(dad, k), V[lut[None, :], states[child[dad]][:, None]].ravel(), post[parent[dad]].ravel())
    both = np.flatnonzero(imputed[parent] & imputed[child])
    primary = both[lineage.parent[child[both]] == parent[both]]
    pair = pair_posteriors(lineage, imp.states, imp.Q, lengths, child[primary])
    add(np.repeat(primary, k * k), np.tile(V[lut[:, None], lut[None, :]].ravel(), len(primary)), pair.ravel())
    ends = np.unique(np.r_[child, parent][imputed[np.r_[child, parent]]])
    sampler = JointSampler(lineage, imp.states, imp.Q, lengths, ends)
    row = np.full(lineage.n, -1)
    row[ends] = np.arange(len(ends))
    rng = np.random.default_rng([seed, 3])
    merge = np.setdiff1d(both, primary)
    totals, hits = [], np.zeros((len(merge), len(RULES)))
    lut16, st16, V8 = lut.astype(np.int16), states.astype(np.int16), V.astype(np.int8)     # (edges, BATCH)
    for batch in np.diff(np.r_[0:draws:BATCH, draws]):         # arrays stay small at Hub scale
        X = sampler.draw(int(batch), rng)
        full = lambda v: np.where(imputed[v][:, None], lut16[X[np.maximum(row[v], 0)]], st16[v][:, None])  # noqa: E731
        rule = V8[full(parent), full(child)]
        totals.append((rule >= 0).sum(axis=0))
        hits += (rule[merge][:, :, None] == np.arange(len(RULES))).sum(axis=1)
    prob[merge, :len(RULES)] = hits / draws
    totals = np.concatenate(totals)
    expected = prob[:, :len(RULES)].sum(axis=0)
    certain = np.array([r.certain for r in RULES])
    lo, hi = np.quantile(totals, [0.025, 0.975])
    return {"edges": int(len(child)), "both_imputed": int(len(both)), "expected": float(expected.sum()),
            "certain": float(expected[certain].sum()), "ci95": [float(lo), float(hi)], "draws": draws,
            "by_rule": {r.name: float(e) for r, e in zip(RULES, expected) if e > 0}}


def _tally(keys: np.ndarray, certain: np.ndarray, labels) -> dict[str, dict]:
    n = len(labels)
    total = np.bincount(keys, minlength=n)
    sure = np.bincount(keys[certain], minlength=n)
    return {str(labels[i]): {"violations": int(total[i]), "certain": int(sure[i])}
            for i in range(n) if total[i]}


def audit(lineage: Lineage, states: np.ndarray, names: list[str], scope_mask: np.ndarray | None = None,
          scope: str = "all families", imputation: Imputation | None = None, top: int = 20,
          seed: int = 1) -> Audit:
    """Every edge (primary and merge) whose child license cannot follow from its parent's.

    ``states``/``names``: license id per node (-1 undeclared), e.g.
    ``traits.categorical(genome, "license", top=<all>)``; ``scope_mask`` limits to child nodes."""
    child, parent, rel = edges(lineage)
    if scope_mask is not None:
        keep = scope_mask[child]
        child, parent, rel = child[keep], parent[keep], rel[keep]
    rules = pair_rules(names)
    certain_of = np.array([r.certain for r in RULES])
    a, b = states[parent], states[child]
    known = (a >= 0) & (b >= 0)
    cls = class_states(states, names)
    judged = known & (cls[parent] != OTHER) & (cls[child] != OTHER)
    r = np.full(len(child), -1, np.int64)
    r[known] = rules[a[known], b[known]]
    hit = np.flatnonzero(r >= 0)
    hit = hit[np.lexsort((child[hit], lineage.root[child[hit]]))]
    sure = certain_of[r[hit]]
    ids = lineage.ids
    violations = [{"parent": str(ids[p]), "child": str(ids[c]), "relation": RELATIONS[x],
                   "parent_license": names[sa], "child_license": names[sb], "rule": RULES[k].name,
                   "certain": bool(s)}
                  for p, c, x, sa, sb, k, s in zip(parent[hit].tolist(), child[hit].tolist(), rel[hit].tolist(),
                                                   a[hit].tolist(), b[hit].tolist(), r[hit].tolist(), sure.tolist())]
    fam = lineage.root[child]
    fam_edges = np.bincount(fam, weights=judged, minlength=lineage.n)
    fam_hits = np.bincount(fam[hit], minlength=lineage.n)
    fam_sure = np.bincount(fam[hit[sure]], minlength=lineage.n)
    worst = np.flatnonzero(fam_hits)
    worst = worst[np.lexsort((worst, -fam_sure[worst], -fam_hits[worst]))][:top]
    families = [{"root": str(ids[f]), "judged_edges": int(fam_edges[f]), "violations": int(fam_hits[f]),
                 "certain": int(fam_sure[f]), "share": float(fam_hits[f] / fam_edges[f])} for f in worst.tolist()]
    by_relation = {RELATIONS[i]: {"judged": int(j), "violations": int(v), "certain": int(s)}
                   for i, (j, v, s) in enumerate(zip(np.bincount(rel[judged], minlength=len(RELATIONS)),
                                                     np.bincount(rel[hit], minlength=len(RELATIONS)),
                                                     np.bincount(rel[hit[sure]], minlength=len(RELATIONS))))}
    nodes = np.flatnonzero(lineage.observed if scope_mask is None else lineage.observed & scope_mask)
    class_counts = np.bincount(cls[nodes] + 1, minlength=len(CLASSES) + 1)
    out = Audit(scope, len(child), int(judged.sum()), violations,
                _tally(r[hit], sure, [x.name for x in RULES]), by_relation, families,
                {"(undeclared)": int(class_counts[0]), **dict(zip(CLASSES, map(int, class_counts[1:])))})
    if imputation is not None:
        _add_imputation(out, lineage, states, names, imputation, child, parent, scope_mask, seed)
    return out


def _add_imputation(out: Audit, lineage, states, names, imp: Imputation, child, parent, scope_mask, seed):
    """Imputed licenses in scope, and the expected violations among edges with an imputed end."""
    keep = np.ones(len(imp.nodes), bool) if scope_mask is None else scope_mask[imp.nodes]
    order = np.argsort(-imp.probability[keep], kind="stable")
    nodes, st, pr = imp.nodes[keep][order], imp.state[keep][order], imp.probability[keep][order]
    out.imputed = [{"model": str(lineage.ids[v]), "license": imp.names[s], "probability": round(float(p), 4)}
                   for v, s, p in zip(nodes.tolist(), st.tolist(), pr.tolist())]
    out.imputation = imp.conventions
    imputed = np.zeros(lineage.n, bool)
    imputed[nodes] = True
    out.expected = expected_violations(lineage, child, parent, states, names, imp, imputed, seed=seed)


def audit_genomes(lineage: Lineage, genome, scope_mask: np.ndarray | None = None, scope: str = "all families",
                  impute_top: int | None = 6, seed: int = 1, missing: str = "unknown") -> Audit:
    """:func:`audit` of the genomes' license ids, with the licenses of models that declare none
    imputed from the ``impute_top`` most frequent ids (None: no imputation). ``missing="state"``
    (:func:`~.traits.with_missing`): declaring no license is a choice of its own, so none is imputed."""
    from .traits import MISSING, categorical
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, not {missing!r}")
    states, names = categorical(genome, "license", top=len(genome.columns("license")))
    imputation = None                                   # (with one license there is nothing to fit)
    if missing == "unknown" and impute_top is not None and len(np.unique(states[states >= 0])) > 1:
        imputation = impute(lineage, *categorical(genome, "license", impute_top), seed=seed)
    out = audit(lineage, states, names, scope_mask, scope, imputation, seed=seed)
    if missing == "state":
        out.imputation = ("undeclared licenses taken as a state of their own (--missing state): a model that "
                          "declares none chose not to, so none is imputed and no edge is judged by imputation")
    return out
