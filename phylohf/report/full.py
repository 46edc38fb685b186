"""The full report: every analysis of one store in numbered sections, as text and JSON.

1. data and conventions; 2. family anatomy; 3. family resemblance (kinship tests against
the null engine); 4. transition matrices and orderings; 5. license audit; 6. drift of
licenses, languages, tasks, libraries and cards; 7. ancestral reconstruction and
imputation accuracy. Every section names its conventions, gives each estimate with a CI
or p-value and ends with one line saying what it means.

Every test the report states is a *claim* (:mod:`phylohf.phylo.claims`): its p-value comes from a null
simulated on the same trees (the null engine, :mod:`phylohf.phylo.null`) or from a family
bootstrap; the q-values are Benjamini-Hochberg across all claims of the report, and a
section's "What it means" line states only the claims with q < 0.05 and the claimed sign.
So a section is rendered after every claim is in. The analyses are the library's own
(``relatives``, ``phylo``, ``licenses``, ``drift``, ``anatomy``); this module only runs
them in order and lays them out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..genealogy.families import Families
from ..genealogy.genome import Genome
from ..genealogy.lineage import Lineage
from ..result import Result

TITLES = ("Data and conventions", "Family anatomy", "Family resemblance: kinship tests",
          "Transition matrices and orderings", "License audit", "Drift: licenses, languages, cards",
          "Ancestral reconstruction and imputation")
CONVENTIONS = (
    "lineage: a model's primary parent is the Hub's (its baseModels, else its relation tags, else the "
    "card), ids matched without regard to case; merges keep further parents as reticulation edges; "
    "absent parents are placeholder nodes",
    "traits: undeclared is unknown, never absent; single-valued groups keep their most frequent "
    "values as states and lump the rest as '(rare)'",
    "pairs of relatives are not independent: CIs resample families (cluster bootstrap); claims are "
    "set against a null simulated on the same trees",
    "Mk models: unit branch lengths (one per generation), root prior equal (as phytools fitMk)",
    "claims: p from a null simulated on the same trees (founders and declared nodes as observed; "
    "symmetric rates for direction, unrestricted for shared change; per relation type, hidden rate "
    "classes of parents); q by Benjamini-Hochberg across all claims of the report; supported = q < 0.05 "
    "and the claimed sign",
)


# the paper's trait groups and the card features: each at most a few hundred distinct values, so
# the neutral null is exact and cheap at Hub scale (``phylohf relatives --groups tag,all`` adds
# the free-form tags and the whole genome, whose null simulates every trait apart)
KINSHIP_GROUPS = ("license", "language", "task", "card")


@dataclass
class Settings:
    seed: int = 1
    bootstrap: int = 1000       # cluster-bootstrap replicates
    null: int = 200             # null-engine replicates of every claim
    mask: float = 0.2           # share of known licenses hidden to score the reconstruction
    top: int = 8                # license states of the transition matrix
    missing: str = "unknown"    # undeclared licenses: unknown, or a state of their own (traits.with_missing)


@dataclass
class Report(Result):
    """``phylohf report``: the sections' texts and data, and every claim, adjusted together."""

    sections: list[tuple[str, str]] = field(default_factory=list)     # (title, text)
    data: dict = field(default_factory=dict)                           # JSON, one key per section
    seconds: dict = field(default_factory=dict)

    header: str = ""

    def text(self) -> str:
        body = [f"{i}. {title}\n{'-' * (len(title) + len(str(i)) + 2)}\n\n{text}"
                for i, (title, text) in enumerate(self.sections, 1)]
        return f"phylohf report\n==============\n\n{self.header}\n\n\n" + "\n\n\n".join(body) + "\n"

    claims: list = field(default_factory=list)                        # every claim, adjusted

    def to_dict(self) -> dict:
        return {"header": self.header, "sections": [t for t, _ in self.sections], **self.data,
                "claims": [c.to_json() for c in self.claims]}


def _data(store, lineage, fams, genome, s):
    from ..analyses.overview import overview
    text = overview(lineage, fams, genome, store.fix_counts(), store.problem_counts())
    edges = lineage.edge_count()
    text += "\n\nConventions used throughout:\n" + "\n".join(f"  - {c}" for c in CONVENTIONS)
    text += (f"\n\nWhat it means: {lineage.n_observed:,} models in {len(fams):,} families; every analysis "
             "below runs on these trees.")
    return [], lambda: (text, {"models": lineage.n_observed, "placeholders": lineage.n - lineage.n_observed,
                               "families": len(fams), "edges": edges, "conventions": list(CONVENTIONS),
                               "fixes": store.fix_counts(), "problems": store.problem_counts()})


def _anatomy(store, lineage, fams, genome, s):
    from ..analyses.anatomy import anatomy, anatomy_report
    a = anatomy(lineage, fams, seed=s.seed)
    return [], lambda: (anatomy_report(a), a)


def _kinship(store, lineage, fams, genome, s):
    from ..analyses.relatives import Kinship, kinship
    r = Kinship(kinship(lineage, genome, store, groups=KINSHIP_GROUPS, bootstrap=s.bootstrap, null=s.null,
                        seed=s.seed))
    return r.result["claims"], lambda: (r.text(), r.to_dict())


def _too_few_licenses(names: list[str], need: int):
    """(claims, finish) of a section that needs ``need`` declared license ids and has fewer, else None."""
    if len(names) >= need:
        return None
    said = f"only {names[0]}" if names else "none"
    return [], lambda: (f"Declared license ids: {said}; this analysis needs at least {need}.\n\nWhat it means: "
                        "nothing to estimate here.", {"trait": "license", "states": names,
                                                       "skipped": "too few licenses"})


def _transitions(store, lineage, fams, genome, s):
    from ..phylo.claims import meaning
    from ..phylo.transitions import license_ordering_claims, tree_transitions
    from ..genealogy.traits import categorical
    states, names = categorical(genome, "license", s.top, s.missing, lineage.observed)
    if few := _too_few_licenses(names, 1):
        return few
    t = tree_transitions(lineage, states, len(names))
    claims = license_ordering_claims(lineage, genome, s.top, "license_ordering", s.null, s.seed)
    return claims, lambda: (t.text(names, "license", "all families") + "\n\n" + meaning(claims),
                            {"trait": "license", **t.to_json(names)})


def _audit(store, lineage, fams, genome, s):
    from ..analyses.licenses import audit_genomes
    a = audit_genomes(lineage, genome, seed=s.seed, missing=s.missing)
    return [], lambda: (a.text(), a.to_dict())


def _drift(store, lineage, fams, genome, s):
    from ..analyses.drift import Drift, card_lengths, drift
    d = Drift(drift(lineage, genome, card_lengths(store, lineage.n), n_boot=s.bootstrap, null=s.null, seed=s.seed))
    return d.result["claims"], lambda: (d.text(), d.to_dict())


def _reversibility(lineage, states, k, s):
    """The claim ``ard_vs_gtr:license``: the ARD-against-GTR likelihood ratio of one-step rates
    on the edges with both licenses known, against the reversible (GTR) null engine."""
    from ..phylo.claims import claim_tests
    from ..phylo.null import irreversibility
    return claim_tests(lineage, states, k, {"ard_vs_gtr:license": (
        "license evolution is not reversible: parent -> child license changes fit directional (ARD) rates "
        "better than any reversible (GTR) ones, beyond what a reversible process from the observed "
        "founders gives", irreversibility(lineage.parent, k))}, s.null, s.seed, "asr", kind="GTR")


def _asr(store, lineage, fams, genome, s):
    from ..genealogy.branch_lengths import branch_lengths
    from ..phylo.claims import meaning
    from ..phylo.reconstruct import ancestral_states
    from ..genealogy.traits import categorical, missing_convention
    truth, names = categorical(genome, "license", 6, s.missing, lineage.observed)
    if few := _too_few_licenses(names, 2):
        return few
    a = ancestral_states(lineage, truth, names, branch_lengths(lineage, "unit"), "license", "all families",
                         starts=1, seed=s.seed, mask=s.mask, note=f"; {missing_convention(names)}")
    r = a.reconstruction
    claims = _reversibility(lineage, truth, len(names), s)
    text = a.text()
    near = r.checks["scores"]["with a visible relative"] if r.checks else None
    if near:
        mk, copy = near["Mk marginal"], near["copy parent"]
        better = mk["log_loss"] < copy["log_loss"] and mk["accuracy"] >= copy["accuracy"]
        text += (f"\n\nImputation: a hidden license with a visible relative is recovered with accuracy "
                 f"{mk['accuracy']:.1%} (copying the parent: {copy['accuracy']:.1%}, the majority license: "
                 f"{near['majority']['accuracy']:.1%}) and log-loss {mk['log_loss']:.3f} (copy: "
                 f"{copy['log_loss']:.3f}); " + ("the imputations above are better than copying the parent."
                                                 if better else "the reconstruction does not beat copying the parent here."))
    best = r.marginals.posterior[r.imputed].max(axis=1) if len(r.imputed) else np.array([])
    data = {"trait": "license", "states": names, "model": r.fit.model, "Q": r.fit.Q.tolist(),
            "loglik": r.fit.loglik, "root_prior": r.fit.root_prior, "mask_check": r.checks,
            "imputed": int(len(r.imputed)), "uninformed": int(len(r.uninformed)),
            "imputed_probability_median": float(np.median(best)) if len(best) else None}
    return claims, lambda: (text + "\n\n" + meaning(claims), data)


SECTIONS = (("data", _data), ("anatomy", _anatomy), ("kinship", _kinship), ("transitions", _transitions),
            ("audit", _audit), ("drift", _drift), ("asr", _asr))


def build(store, lineage: Lineage, fams: Families, genome: Genome, settings: Settings | None = None,
          progress: bool = False, source: str | None = None) -> Report:
    """Run every section on the store's lineage and genomes (``source`` names the data in the
    header; default: the store's path), adjust their claims together, then lay them out."""
    from tqdm import tqdm
    from .. import __version__
    from ..phylo.claims import adjust
    s = settings or Settings()
    report = Report(header=f"{source or f'store {store.path}'}; phylohf {__version__}; seed {s.seed}, {s.bootstrap:,} "
                    f"bootstrap replicates, {s.null:,} null replicates per claim, "
                    f"{s.mask:.0%} of known licenses hidden for the reconstruction check")
    bar = tqdm(total=len(SECTIONS), desc="report", unit="section", disable=not progress)
    finish = []
    for key, section in SECTIONS:
        bar.set_postfix_str(key)
        t = time.perf_counter()
        claims, done = section(store, lineage, fams, genome, s)
        report.seconds[key] = time.perf_counter() - t
        report.claims += claims
        finish.append((key, done))
        bar.update()
    bar.close()
    adjust(report.claims)
    for title, (key, done) in zip(TITLES, finish):
        text, data = done()
        report.sections.append((title, text))
        report.data[key] = data
    return report
