"""The Python API: an ecosystem (a store) with its models, families and one method per
analysis, each returning its result (:class:`phylohf.result.Result`).

    import phylohf
    eco = phylohf.open("eco.duckdb")
    r = eco.asr("license", model="GTR")
    print(r); r.to_dict(); r.to_frame()

The store is read when an analysis first needs it; lineage, families and genomes are kept.
Methods take the options of the command of the same name, as keyword arguments.
"""
from __future__ import annotations

import builtins
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .genealogy.forest import load
from .store.database import Store


def open(path=None, write: bool = False) -> "Ecosystem":
    """The ecosystem of the store ``path`` (default: $PHYLOHF_STORE or ./phylohf.duckdb),
    read-only unless ``write`` (then :meth:`Ecosystem.ingest` adds sources)."""
    with Store(path, read_only=not write):          # fails now if there is no store
        pass
    return Ecosystem(path, write)


def _tree_file(path):
    """A rooted Newick tree file as (lineage, branch lengths: the tree's, or unit if any is missing)."""
    from .genealogy.branch_lengths import BranchLengths
    from .export.newick import read_newick, tree_lineage
    with builtins.open(path, encoding="utf-8", newline="") as f:     # CR LF inside labels stays
        lineage, length = tree_lineage(read_newick(f.read()))
    edges = lineage.parent >= 0
    given = not np.isnan(length[edges]).any()
    length = np.where(edges, length if given else 1.0, np.nan)
    return lineage, BranchLengths("tree" if given else "unit", length, np.zeros(lineage.n, bool), np.zeros(0))


def _family_scope(lineage, family: str | None):
    """(node mask of the family rooted at ``family``, or all nodes; a description)."""
    if family is None:
        return np.ones(lineage.n, bool), "all families"
    return lineage.root == lineage.family_root(family), f"family {family}"


def _split(value) -> list[str] | None:
    """A comma-separated option (or a list already) as a list; None stays None."""
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()] or None
    return None if value is None else list(value)


class Ecosystem:
    """A phylohf store and the analyses of its lineage forest and trait genomes."""

    def __init__(self, path=None, write: bool = False):
        self.path, self.write = path, write
        self._lineage = self._fams = self._genome = None

    def __repr__(self) -> str:
        return f"Ecosystem({str(self.path)!r})"

    @contextmanager
    def store(self):
        """The store, open for as long as the ``with`` block."""
        with Store(self.path, read_only=not self.write) as store:
            yield store

    def load(self, genome: bool = True):
        """(Lineage, Families, Genome or None without ``genome``): the arrays every analysis reads, read once."""
        if self._lineage is None or genome and self._genome is None:
            with self.store() as store:
                self._lineage, self._fams, self._genome = load(store, with_genome=genome)
        return self._lineage, self._fams, self._genome

    def ingest(self, *sources: str, limit: int | None = None, keep_raw: bool = False) -> list:
        """Add snapshot files (or ``hub:`` / ``hf-dataset:`` sources) to a store opened with
        ``write=True``; returns one ingest report per source."""
        from .store.ingest import ingest_source
        if not self.write:
            raise ValueError("the ecosystem is read-only: phylohf.open(path, write=True) to ingest")
        settings = None
        if any(s.startswith(("hub:", "hf-dataset:")) for s in sources):
            from .sources.hub import HubSettings
            settings = HubSettings()
        with self.store() as store:
            reports = [ingest_source(store, s, settings, limit=limit, progress=False, keep_raw=keep_raw)
                       for s in sources]
        self._lineage = self._fams = self._genome = None
        return reports

    # -- data --------------------------------------------------------------------------------
    @property
    def models(self):
        """The normalised records, one row per model (a pyarrow Table; ``.to_pandas()``)."""
        from .store.database import ADDED, COLUMNS
        with self.store() as store:
            return store.con.sql(f"SELECT {COLUMNS}, card, {ADDED} FROM models ORDER BY id").to_arrow_table()

    @property
    def families(self):
        """One row per family, largest first (the ``families --json`` fields; a pyarrow Table)."""
        import pyarrow
        return pyarrow.Table.from_pylist(self.family_list(top=0).rows())

    def family_list(self, top: int = 20, min_size: int = 1):
        """``phylohf families``: the ``top`` largest families (0: all) of ``min_size`` nodes or more."""
        from .genealogy.families import FamilyList
        lineage, fams, _ = self.load(genome=False)
        return FamilyList(lineage, fams, top, min_size)

    def family(self, model_id: str) -> "Family":
        """The family of ``model_id``, any of its members."""
        lineage, _, _ = self.load(genome=False)
        return Family(self, int(lineage.root[lineage.node(model_id)]))

    def _character(self, trait: str, top: int, missing: str, family: str | None):
        """Lineage, genomes and the states of ``trait`` within ``family`` (-1 outside it)."""
        from .genealogy.traits import character
        lineage, _, genome = self.load()
        states, names = character(genome, trait, top, missing, lineage.observed)
        scope_mask, scope = _family_scope(lineage, family)
        states = np.where(scope_mask, states, -1)
        if not (states >= 0).any():
            raise ValueError(f"no model in {scope} declares {trait}: there is nothing to analyse "
                             "(pick another --trait, or a store whose models declare it)")
        return lineage, genome, states, names, scope_mask, scope

    # -- analyses ----------------------------------------------------------------------------
    def asr(self, trait: str = "license", top: int = 6, family: str | None = None, tree=None, states=None,
            method: str = "marginal", model: str = "ER", root_prior: str = "equal", branch_lengths: str = "unit",
            starts: int = 2, compare: bool = False, bootstrap_lrt: int = 0, by_relation: bool = False,
            rate_classes: int = 0, missing: str = "unknown", mask: float | None = None, seed: int = 1):
        """``phylohf asr``: fit an Mk model of ``trait`` and reconstruct every node
        (:class:`~phylohf.phylo.reconstruct.AncestralStates`); ``tree`` and ``states``: a Newick
        file and a state table instead of the store."""
        from .phylo.reconstruct import ancestral_states
        if tree:
            from .genealogy.traits import from_table
            if missing == "state":
                raise ValueError("--missing state needs the store (it tells undeclared models from placeholders); "
                                 "with --tree, give '(undeclared)' as a state in the --states table")
            if not states:
                raise ValueError("--tree needs --states TABLE (tab-separated: node, state)")
            lineage, lengths = _tree_file(tree)
            truth, names = from_table(states, lineage.ids)
            scope_mask, scope, note = np.ones(lineage.n, bool), f"tree {tree}", ""
        else:
            from .genealogy.branch_lengths import branch_lengths as lengths_of
            from .genealogy.traits import missing_convention
            lineage, genome, truth, names, scope_mask, scope = self._character(trait, top, missing, family)
            lengths = lengths_of(lineage, branch_lengths, genome)
            note = f"; {missing_convention(names)}"
        return ancestral_states(lineage, truth, names, lengths, trait, scope, scope_mask, model, root_prior,
                                starts, seed, mask, compare, by_relation, rate_classes, bootstrap_lrt, method, note)

    def changes(self, trait: str = "license", top: int = 6, family: str | None = None, model: str = "ARD",
                by_relation: bool = False, root_prior: str = "equal", branch_lengths: str = "unit",
                starts: int = 2, bootstrap: int = 200, seed: int = 1):
        """``phylohf changes``: expected changes of ``trait`` along every edge
        (:class:`~phylohf.phylo.changes.Changes`)."""
        from .genealogy.branch_lengths import branch_lengths as lengths_of
        from .phylo.changes import expected_changes
        lineage, genome, states, names, _, scope = self._character(trait, top, "unknown", family)
        lengths = lengths_of(lineage, branch_lengths, genome)
        return expected_changes(lineage, states, names, lengths, trait, scope, model, by_relation, root_prior,
                                starts, bootstrap, seed)

    def correlate(self, trait: str | None = None, with_trait: str | None = None, family: str | None = None,
                  tree=None, states=None, root_prior: str = "equal", branch_lengths: str = "unit",
                  starts: int = 2, bootstrap_lrt: int = 0, seed: int = 1):
        """``phylohf correlate``: Pagel's test of two binary traits (``trait``, ``with_trait``), or
        of the two columns of ``states`` on the Newick file ``tree``
        (:class:`~phylohf.phylo.correlate.CorrelatedEvolution`)."""
        from .phylo.correlate import CorrelatedEvolution, correlate, pair_table
        if tree:
            if not states:
                raise ValueError("--tree needs --states TABLE (tab-separated: node, A, B as 0/1)")
            lineage, lengths = _tree_file(tree)
            a, b, names = pair_table(states, lineage.ids)
            scope = f"tree {tree}"
        else:
            if not (trait and with_trait):
                raise ValueError("correlate needs --trait A --with B (binary traits), or --tree FILE --states TABLE")
            from .genealogy.branch_lengths import branch_lengths as lengths_of
            from .genealogy.traits import character
            lineage, genome, a, _, scope_mask, scope = self._character(trait, 2, "unknown", family)
            b = np.where(scope_mask, character(genome, with_trait)[0], -1)
            lengths = lengths_of(lineage, branch_lengths, genome)
            names = [trait, with_trait]
        c = correlate(lineage, a, b, lengths.length, root_prior, starts=starts, seed=seed, bootstrap=bootstrap_lrt)
        return CorrelatedEvolution(names, scope, root_prior, lengths, c)

    def transitions(self, trait: str = "license", top: int = 8, family: str | None = None,
                    relation: str | None = None, missing: str = "unknown", null: int = 200, seed: int = 1):
        """``phylohf transitions``: the parent -> child transition matrix of a single-valued or
        binary ``trait`` with its ordering and test (:class:`~phylohf.phylo.transitions.TraitTransitions`),
        or gains and losses per element of a set-valued one (:class:`~phylohf.phylo.transitions.Gains`)."""
        from .phylo.transitions import gains, license_ordering_claims, trait_transitions
        from .genealogy.traits import SET_TRAITS
        from .sources.records import RELATIONS
        set_valued = trait in SET_TRAITS
        if set_valued and missing == "state":
            raise ValueError(f"--missing state applies to single-valued and binary traits; {trait} is "
                             "set-valued (gains and losses count only models declaring it): drop --missing")
        if set_valued:
            lineage, _, genome = self.load()
            scope_mask, scope = _family_scope(lineage, family)
        else:
            lineage, genome, states, names, scope_mask, scope = self._character(trait, top, missing, family)
        only = RELATIONS.index(relation) if relation else None
        if only is not None:
            scope += f", {relation} edges"
        parent = lineage.parent if only is None else np.where(lineage.relation == only, lineage.parent, -1)
        if set_valued:
            declared = genome.is_declared(trait) & scope_mask
            return gains(parent, genome.group(trait), declared, genome.traits[genome.columns(trait)].tolist(),
                         trait, scope)
        claims = (license_ordering_claims(lineage, genome, top, "ordering", null, seed, scope_mask, parent)
                  if trait == "license" else None)
        return trait_transitions(lineage, states, names, trait, scope, only, parent, null, seed, claims)

    def relatives(self, groups="license,language,task,tag,card,all", relations=None, family: str | None = None,
                  metric: str = "jaccard", bootstrap: int = 1000, null: int = 200, null_model: str = "ARD",
                  max_pairs: int = 100_000, seed: int = 1):
        """``phylohf relatives``: kinship tests per trait group, claims adjusted together
        (:class:`~phylohf.analyses.relatives.Kinship`); ``groups``, ``relations``: lists or comma-separated."""
        from .phylo.claims import adjust
        from .analyses.relatives import Kinship, kinship
        text = metric in ("tfidf", "levenshtein")
        lineage, _, genome = self.load(genome=not text)
        with self.store() as store:
            result = kinship(lineage, genome, store, groups=_split(groups), relations=_split(relations),
                             family=family, metric=metric, bootstrap=bootstrap, null=null, seed=seed,
                             max_pairs=max_pairs, null_model=null_model)
        adjust(result["claims"])
        return Kinship(result)

    def audit_licenses(self, family: str | None = None, top: int = 10, examples: int = 10, no_impute: bool = False,
                       impute_top: int = 6, seed: int = 1):
        """``phylohf audit-licenses``: edges whose child license cannot follow from the parent's
        (:class:`~phylohf.analyses.licenses.Audit`; ``top`` families and ``examples`` shown in its text)."""
        from .analyses.licenses import audit_genomes
        lineage, _, genome = self.load()
        scope_mask, scope = _family_scope(lineage, family)
        a = audit_genomes(lineage, genome, None if family is None else scope_mask, scope,
                          None if no_impute else impute_top, seed)
        a.top, a.examples = top, examples
        return a

    def drift(self, bootstrap: int = 1000, null: int = 200, seed: int = 1):
        """Drift of licenses, languages, tasks, libraries and cards along the edges, claims
        adjusted together (:class:`~phylohf.analyses.drift.Drift`)."""
        from .phylo.claims import adjust
        from .analyses.drift import Drift, card_lengths, drift
        lineage, _, genome = self.load()
        with self.store() as store:
            cards = card_lengths(store, lineage.n)
        d = drift(lineage, genome, cards, n_boot=bootstrap, null=null, seed=seed)
        adjust(d["claims"])
        return Drift(d)

    def report(self, bootstrap: int = 1000, null: int = 200, missing: str = "unknown", seed: int = 1,
               progress: bool = False, source: str | None = None):
        """``phylohf report``: every analysis in numbered sections (:class:`~phylohf.report.full.Report`)."""
        from .report.full import Settings, build
        lineage, fams, genome = self.load()
        with self.store() as store:
            return build(store, lineage, fams, genome, Settings(seed=seed, bootstrap=bootstrap, null=null,
                                                                missing=missing), progress=progress, source=source)


@dataclass
class Family:
    """One family tree of an ecosystem, by its root node."""

    ecosystem: Ecosystem
    root: int

    @property
    def root_id(self) -> str:
        return str(self.ecosystem.load(genome=False)[0].ids[self.root])

    def __repr__(self) -> str:
        return f"Family({self.root_id!r})"

    def newick(self, branch_lengths: str = "unit") -> str:
        """The family as one Newick string (models as labelled internal nodes)."""
        from .genealogy.branch_lengths import branch_lengths as lengths_of
        from .export.newick import write_forest
        lineage, _, genome = self.ecosystem.load(genome=branch_lengths == "hamming")
        lengths = lengths_of(lineage, branch_lengths, genome).length
        return next(write_forest(lineage, [self.root], lengths))[1]

    def to_ete3(self):
        """An ``ete3.Tree`` (internal node names kept)."""
        import ete3
        return ete3.Tree(self.newick(), format=1)

    def to_dendropy(self):
        """A ``dendropy.Tree``."""
        import dendropy
        return dendropy.Tree.get(data=self.newick(), schema="newick", suppress_internal_node_taxa=False,
                                 preserve_underscores=True)

    def to_biopython(self):
        """A ``Bio.Phylo`` tree."""
        from io import StringIO

        from Bio import Phylo
        return Phylo.read(StringIO(self.newick()), "newick")

    def draw(self, path, color_by: str = "license", **options) -> str:
        """Draw the family to ``path`` (.png, .svg, .pdf) coloured by ``color_by``, as
        ``phylohf draw`` (``options``: collapse_by, max_nodes, layout, engine); returns the engine."""
        from .export.draw import draw_family
        lineage, _, genome = self.ecosystem.load()
        return draw_family(lineage, genome, self.root, path, color_by, **options)[1]
