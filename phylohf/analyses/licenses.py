"""The upstream-compatibility audit of parent -> child edges (the rules: :mod:`phylohf.genealogy.licensing`).

Edges where either license is ``other`` or undeclared are
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

from ..genealogy.licensing import CLASSES, OTHER, RULES, class_states, pair_rules
from ..genealogy.lineage import Lineage
from ..text import table
from ..sources.records import RELATIONS
from ..result import Result, frame


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
    posterior: np.ndarray      # (len(nodes), len(names)) their marginal posteriors
    names: list[str]
    loglik: float
    conventions: str
    states: np.ndarray         # the model's states of every node (-1 unknown), indices into names
    Q: np.ndarray              # its fitted rate matrix (unit branch lengths, root prior equal)

    @property
    def state(self) -> np.ndarray:
        """The most probable state of each imputed node (index into names)."""
        return self.posterior.argmax(axis=1)

    @property
    def probability(self) -> np.ndarray:
        return self.posterior.max(axis=1)


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
                 "classes by the documented table in phylohf.analyses.licenses; an edge is judged when both licenses "
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
    from ..phylo.reconstruct import reconstruct
    r = reconstruct(lineage, states, len(names), np.where(lineage.parent >= 0, 1.0, np.nan), "ER",
                    starts=1, seed=seed)
    nodes = r.imputed[lineage.observed[r.imputed]]
    marg = r.marginals
    return Imputation(nodes, marg.posterior[nodes], names, r.fit.loglik,
                      "Mk ER by maximum likelihood over the license states (most frequent ids, "
                      "'(rare)' lumps the rest), root prior equal, unit branch lengths; marginal "
                      "posteriors by the two-pass algorithm", states, r.fit.Q)


DRAWS = 400         # joint posterior draws behind the interval of the expected violations
BATCH = 50          # drawn at a time


def expected_violations(lineage: Lineage, child: np.ndarray, parent: np.ndarray, states: np.ndarray,
                        names: list[str], imp: Imputation, imputed: np.ndarray, draws: int = DRAWS,
                        seed: int = 1) -> dict:
    """Expected violations among the edges ``parent -> child`` with an imputed end (``imputed``:
    node mask, within ``imp.nodes``) and the other end known or imputed.

    An edge's probability of breaking rule r is the posterior mass of its license pairs that
    break r: from the imputed end's marginal when the other end is known, from the exact pair
    posterior of a primary edge with both ends imputed (:meth:`~phylohf.phylo.asr.JointSampler.pairs`),
    from the draws for a merge edge with both ends imputed. The 95% interval is the 2.5 and
    97.5% quantiles of the violation count over ``draws`` joint draws of every imputed state
    (forward filtering, backward sampling), which keeps the dependence of edges that share an
    imputed model or a lineage. Imputed ``(rare)`` licenses are not judged."""
    from ..phylo.asr import JointSampler
    known = states >= 0
    use = (imputed[parent] | imputed[child]) & (known[parent] | imputed[parent]) & (known[child] | imputed[child])
    child, parent = child[use], parent[use]
    K, k = len(names), len(imp.names)
    V = np.full((K + 1, K + 1), -1, np.int64)          # rule of a pair of full ids; K: not judged
    V[:K, :K] = pair_rules(names)
    code = {n: i for i, n in enumerate(names)}
    lut = np.array([code.get(n, K) for n in imp.names], np.int64)
    lengths = np.where(lineage.parent >= 0, 1.0, np.nan)
    at = np.full(lineage.n, -1)                 # row of each imputed node in the imputation's marginals
    at[imp.nodes] = np.arange(len(imp.nodes))
    prob = np.zeros((len(child), len(RULES) + 1))      # per edge: P(rule r), last column: none

    def add(rows, rule, w):
        cell = rows * (len(RULES) + 1) + np.where(rule >= 0, rule, len(RULES))
        prob.flat[:] += np.bincount(cell, weights=w, minlength=prob.size)
    one = np.flatnonzero(~(imputed[parent] & imputed[child]))
    kid, dad = one[imputed[child[one]]], one[imputed[parent[one]]]      # which end is imputed
    add(np.repeat(kid, k), V[states[parent[kid]][:, None], lut[None, :]].ravel(), imp.posterior[at[child[kid]]].ravel())
    add(np.repeat(dad, k), V[lut[None, :], states[child[dad]][:, None]].ravel(), imp.posterior[at[parent[dad]]].ravel())
    both = np.flatnonzero(imputed[parent] & imputed[child])
    primary = both[lineage.parent[child[both]] == parent[both]]
    ends = np.unique(np.r_[child, parent][imputed[np.r_[child, parent]]])
    sampler = JointSampler(lineage, imp.states, imp.Q, lengths, ends)         # one down pass for both
    pair = sampler.pairs(child[primary])
    add(np.repeat(primary, k * k), np.tile(V[lut[:, None], lut[None, :]].ravel(), len(primary)), pair.ravel())
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
    (:func:`~phylohf.genealogy.traits.with_missing`): declaring no license is a choice of its own, so none is imputed."""
    from ..genealogy.traits import MISSING, categorical
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
