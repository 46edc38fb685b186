"""The command line of ``phylohf``: every subcommand, its options and their checks (a bad
value is a usage error, exit 2, as it is parsed)."""
from __future__ import annotations

import argparse

from . import __version__
from .store.database import DEFAULT_STORE


def at_least(minimum: int):
    """argparse type: an integer no smaller than ``minimum`` (else a usage error, exit 2)."""
    def check(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer of at least {minimum}, got {value}")
        return n
    return check


COUNT, POSITIVE = at_least(0), at_least(1)


def fraction(value: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value!r}") from None
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value}")
    return x


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, metavar="FILE",
                   help=f"DuckDB store (default: $PHYLOHF_STORE or ./{DEFAULT_STORE})")


def _fit_args(s: argparse.ArgumentParser) -> None:
    """--root-prior, --branch-lengths and --starts of the commands that fit Mk models."""
    s.add_argument("--root-prior", default="equal", choices=("equal", "stationary", "fitzjohn"),
                   help="root state prior (default: equal, as phytools fitMk)")
    s.add_argument("--branch-lengths", default="unit", choices=("unit", "days"),
                   help="store: one per generation (default) or days between creation dates")
    s.add_argument("--starts", type=POSITIVE, default=2, help="optimiser starts (default 2)")


def _missing_arg(s: argparse.ArgumentParser, which: str = "") -> None:
    """--missing: how an observed model that declares no value of the trait enters."""
    s.add_argument("--missing", choices=("unknown", "state"), default="unknown",
                   help=f"undeclared values ({which}placeholders always stay unknown): unknown (default; "
                   "summed over, as if missing at random) or state: '(undeclared)' is a state of its own, "
                   "the last one, since a model that declares no license is not a random hider (it chose "
                   "not to, and its relatives may copy that choice); no undeclared license is then imputed")


def _trait_name(groups=()):
    """argparse type of ``--trait``: a single-valued group, one of ``groups``, or group:element."""
    from .genealogy.genome import GROUPS
    from .genealogy.traits import SINGLE

    def check(value: str) -> str:
        if value in SINGLE or value in groups or value.split(":", 1)[0] in (*GROUPS, "license-class") \
                and ":" in value:
            return value
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected {', '.join((*SINGLE, *groups))}, or group:element "
            f"(group one of {', '.join(GROUPS)}), e.g. language:en, or license-class:NAME")
    return check


def _draw_args(s: argparse.ArgumentParser) -> None:
    from .export.draw import ATTRIBUTES
    _store_arg(s)
    s.add_argument("--family", metavar="ROOT_ID", help="root model id of the family (default: the largest)")
    s.add_argument("--color-by", default="license", choices=ATTRIBUTES,
                   help="node attribute that colours branches and markers (default: license)")
    s.add_argument("--collapse-by", choices=ATTRIBUTES, help="draw every subtree whose members share "
                   "this attribute's value as one triangle labelled with its size")
    s.add_argument("--max-nodes", type=at_least(2), default=2000, help="then collapse the smallest clades until "
                   "at most N nodes are drawn (default 2000)")
    s.add_argument("--layout", choices=("rectangular", "circular"), default="rectangular",
                   help="tree layout (default: rectangular)")


def parser() -> argparse.ArgumentParser:
    from .sources.scenarios import SCENARIOS
    from .genealogy.traits import SET_TRAITS
    p = argparse.ArgumentParser(
        prog="phylohf", description="Phylogenetics of the Hugging Face model ecosystem: "
        "gather model metadata, build family trees and trait genomes, analyse them.")
    p.add_argument("--version", action="version", version=f"phylohf {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("simulate", help="simulate a Hub-like ecosystem snapshot (ground truth)",
                       description="Write a synthetic Hub listing (same schema as the real one) "
                       "and optionally its ground truth.")
    s.add_argument("--models", type=POSITIVE, default=200_000, help="number of models (default 200000)")
    s.add_argument("--seed", type=COUNT, default=0, help="random seed (default 0)")
    s.add_argument("--scenario", choices=SCENARIOS, default="directional",
                   help="trait evolution: directional (drift, sibling-shared changes, card effects; default) "
                   "or one with none of them: neutral (independent symmetric mutation), founder (restrictive, "
                   "multilingual roots), heterogeneous (copying and editing parents), relations (rates by "
                   "relation type), hard-neutral (the three together)")
    s.add_argument("--out", required=True, metavar="FILE", help="snapshot to write: .parquet or .jsonl")
    s.add_argument("--truth", metavar="FILE", help="also write the ground truth as JSON")

    s = sub.add_parser("ingest", help="load snapshot files or Hub data into the store (upsert by model id)",
                       description="Ingest Parquet listings, JSONL API records or seed-format CSV, or "
                       "real Hub data: hub:OWNER/NAME (that model's whole family), hub:all (the whole "
                       "listing), hf-dataset:OWNER/NAME:FILE.parquet[@REVISION] (a snapshot in a Hub "
                       "dataset). Hub crawls resume where they stopped when run again; HF_TOKEN and "
                       "HF_ENDPOINT are honoured. Malformed rows are skipped, counted and reported.")
    s.add_argument("files", nargs="+", metavar="SOURCE", help=".parquet, .jsonl or seed .csv file, "
                   "hub:OWNER/NAME, hub:all or hf-dataset:OWNER/NAME:FILE[@REVISION]")
    _store_arg(s)
    s.add_argument("--limit", type=POSITIVE, metavar="N", help="hub:all: stop after the first N models")
    s.add_argument("--cards", action="store_true", help="hub crawls: also fetch each model's card "
                   "text (README.md); missing cards are recorded")
    s.add_argument("--rate-limit", type=POSITIVE, metavar="N", help="Hub API requests per 5 minutes "
                   "(default: 500 without a token, 1000 with one; PRO accounts may use 2500)")
    s.add_argument("--workers", type=POSITIVE, default=4, metavar="N",
                   help="Hub requests in flight at most (default 4)")
    s.add_argument("--strict", action="store_true", help="exit with status 3 if any row was skipped")
    s.add_argument("--raw", action="store_true", help="also keep every Parquet row as JSON in the store "
                   "(JSONL and CSV records are always kept; Parquet rows are located by file and row)")

    s = sub.add_parser("families", help="list family trees with their statistics",
                       description="Families are the trees of the primary-parent forest, named by "
                       "their root model.")
    _store_arg(s)
    s.add_argument("--top", type=COUNT, default=20, help="largest N families (0: all; default 20)")
    s.add_argument("--min-size", type=POSITIVE, default=1, help="only families with at least N nodes")
    s.add_argument("--json", action="store_true", help='print {"families": [...]} as JSON')

    s = sub.add_parser("trees", help="export family trees (Newick, NHX, ...) with an index",
                       description="Write one file per family and format, named from the root "
                       "model id (or with --forest one file per format holding every family), plus "
                       "index.tsv (root, files, size, observed, depth).")
    _store_arg(s)
    s.add_argument("--out", default="trees", metavar="DIR", help="output directory (default: trees)")
    s.add_argument("--format", default="newick,nhx,nexus,enewick", metavar="F[,F]",
                   help="comma-separated formats: newick, nhx, nexus, enewick (default: all)")
    s.add_argument("--branch-lengths", choices=("unit", "days", "hamming"), default="unit",
                   help="one per generation (default), days between creation dates, or genome distance")
    s.add_argument("--ancestors", choices=("internal", "tips"), default="internal",
                   help="models as labelled internal nodes (default), or also as zero-length tips "
                   "(sampled ancestors) for tools that read tip data only")
    s.add_argument("--min-size", type=POSITIVE, default=2, help="only families with at least N nodes (default 2)")
    s.add_argument("--family", metavar="ROOT_ID", help="only the family rooted at this model")
    s.add_argument("--color-by", default="license", metavar="ATTRIBUTE",
                   help="NEXUS: the node attribute FigTree colours branches by (default: license; "
                   "also languages, task, library, relation, observed)")
    s.add_argument("--forest", action="store_true", help="one file per format holding every family, as "
                   "tools that read many trees expect: forest.nwk, forest.nhx, forest.enwk (a tree per line), "
                   "forest.nex (one TREES block, no CHARACTERS block); index.tsv gives each family's position "
                   "(column tree)")

    s = sub.add_parser("asr", help="fit an Mk model and reconstruct (impute) a trait's unknown states",
                       description="Fit a continuous-time Markov (Mk) model of a trait on the lineage "
                       "forest and compute marginal posterior states of every node.")
    _store_arg(s)
    s.add_argument("--trait", default="license", type=_trait_name(), metavar="TRAIT",
                   help="a single-valued trait group (license, task, library, architecture; default: "
                   "license), or one genome element as a binary trait: group:element, e.g. language:en")
    s.add_argument("--top", type=POSITIVE, default=6, help="the N most frequent values are states (default 6)")
    s.add_argument("--family", metavar="ROOT_ID", help="only this family")
    s.add_argument("--tree", metavar="FILE", help="instead of the store: any rooted Newick tree ...")
    s.add_argument("--states", metavar="TABLE", help="... with its states: tab-separated, header row, "
                   "node name then state (PastML's layout); absent nodes are unknown")
    s.add_argument("--method", default="marginal", choices=("marginal", "joint", "parsimony"),
                   help="besides the marginal posteriors: the joint (Pupko) reconstruction, or Fitch "
                   "parsimony (default: marginal only)")
    s.add_argument("--model", default="ER", choices=("ER", "F81", "SYM", "GTR", "ARD"),
                   help="rate matrix: equal rates (default); F81 (one rate times the target state's "
                   "frequency); symmetric; GTR (reversible: symmetric exchangeabilities times "
                   "frequencies); all rates different")
    _fit_args(s)
    s.add_argument("--compare", action="store_true", help="also fit ER, F81, SYM, GTR and ARD (AIC weights) "
                   "and the likelihood-ratio tests SYM vs ER (unequal rates), GTR vs F81, ARD vs SYM "
                   "(asymmetric rates) and ARD vs GTR (non-reversibility)")
    s.add_argument("--bootstrap-lrt", type=COUNT, default=0, metavar="N", help="besides the chi-squared p "
                   "of the tests of --compare, --by-relation and --rate-classes, a parametric-bootstrap p from N datasets simulated under the fitted smaller "
                   "model (same forest, observed roots and missingness kept)")
    s.add_argument("--by-relation", action="store_true", help="also fit one Q per relation type of the "
                   "edge above a node (finetune, adapter, quantized, merge; shared root prior) and test it "
                   "against one Q (likelihood ratio)")
    s.add_argument("--rate-classes", type=COUNT, default=0, metavar="R", help="also fit R hidden rate "
                   "classes of parents (the edges to a parent's children move by scale_r x Q; e.g. 2: "
                   "copying and editing parents), with class weights, each parent's posterior class and "
                   "the LRT against one class")
    _missing_arg(s)
    s.add_argument("--mask", type=fraction, metavar="F", help="hide a fraction F of the known states at "
                   "random and score their reconstruction against copy-parent and majority baselines; "
                   "then the same for masks not at random, each refitted: every known child of one "
                   "relation type (e.g. all quantized children), and every model of random authors up to F")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed (default 1)")
    s.add_argument("--json", action="store_true", help="print model, Q and every node's posterior as JSON")

    s = sub.add_parser("changes", help="expected changes of a trait along every edge (exact stochastic mapping)",
                       description="Fit an Mk model and, for every edge, the posterior probability of each "
                       "(parent state, child state) pair and the expected number of jumps along it (Minin & "
                       "Suchard 2008), given all the data; totals over the forest with family-bootstrap CIs, "
                       "per relation type and for the families with the most changes.")
    _store_arg(s)
    s.add_argument("--trait", default="license", type=_trait_name(), metavar="TRAIT",
                   help="a single-valued trait group (default: license) or group:element")
    s.add_argument("--top", type=POSITIVE, default=6, help="the N most frequent values are states (default 6)")
    s.add_argument("--family", metavar="ROOT_ID", help="only this family")
    s.add_argument("--model", default="ARD", choices=("ER", "F81", "SYM", "GTR", "ARD"),
                   help="rate matrix (default ARD: changes may be directional)")
    s.add_argument("--by-relation", action="store_true", help="one Q per relation type of the edge")
    _fit_args(s)
    s.add_argument("--bootstrap", type=COUNT, default=200, help="family-bootstrap replicates of the CIs "
                   "(default 200)")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed (default 1)")
    s.add_argument("--json", action="store_true", help="every matrix as JSON")

    s = sub.add_parser("correlate", help="do two binary traits evolve together? (Pagel 1994)",
                       description="Fit Pagel's (1994) independent model (two 2-state chains, 4 rates) and "
                       "dependent model (one 4-state chain on the pairs, 8 rates, one character changing at a "
                       "time) and test them by a likelihood ratio (df 4), optionally by a parametric bootstrap.")
    _store_arg(s)
    s.add_argument("--trait", type=_trait_name(), metavar="A", help="first binary trait: group:element "
                   "(e.g. tag:gguf) or license-class:NAME (e.g. license-class:permissive)")
    s.add_argument("--with", dest="with_trait", type=_trait_name(), metavar="B", help="second binary trait")
    s.add_argument("--family", metavar="ROOT_ID", help="only this family")
    s.add_argument("--tree", metavar="FILE", help="instead of the store: a rooted Newick tree ...")
    s.add_argument("--states", metavar="TABLE", help="... with a tab-separated table: header row, then "
                   "node, A, B (0/1; empty, NA or ? unknown)")
    _fit_args(s)
    s.add_argument("--bootstrap-lrt", type=COUNT, default=0, metavar="N", help="also a parametric-bootstrap p "
                   "from N datasets simulated under the independent fit")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed (default 1)")
    s.add_argument("--json", action="store_true", help="both models' loglik and Q, the conditional rates, the LRT")

    s = sub.add_parser("transitions", help="parent -> child transition matrix of a trait, with tests",
                       description="Counts and per-generation matrix of parent -> child state changes, "
                       "net flow per pair and Bowker's statistic (descriptive: edges below one parent share its "
                       "state), the maximum compatible ordering of the counts (descriptive) and that of the rates "
                       "(each pair of states given equal exposure) with its null-engine test.")
    _store_arg(s)
    s.add_argument("--trait", default="license", type=_trait_name(SET_TRAITS), metavar="TRAIT",
                   help="a single-valued trait group (license, task, library, architecture; default: "
                   "license), a set-valued one (language, tag, dataset: gains and losses per element, descriptive), "
                   "or one element as a binary trait: group:element, e.g. language:en")
    s.add_argument("--top", type=POSITIVE, default=8, help="the N most frequent values are states, the rest "
                   "'(rare)' (default 8)")
    s.add_argument("--family", metavar="ROOT_ID", help="only this family")
    s.add_argument("--relation", choices=("finetune", "adapter", "quantized", "merge"),
                   help="only edges of this relation type")
    _missing_arg(s)
    s.add_argument("--null", type=COUNT, default=200,
                   help="replicates of the rate ordering's test: the share recomputed on the trait re-simulated "
                   "down the same trees under the symmetric model, from the observed founders (default 200; "
                   "0 skips)")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed of the null replicates (default 1)")
    s.add_argument("--json", action="store_true", help="print counts, P, tests and ordering as JSON")

    s = sub.add_parser("draw", help="draw a family tree to PNG, SVG or PDF (ete3; matplotlib without PyQt5)",
                       description="Draw one family coloured by a trait, with relation types, placeholders, "
                       "merge parents and a legend; large families are collapsed (see --collapse-by, "
                       "--max-nodes). Uses ete3 (pip install 'phylohf[view]'), else matplotlib.")
    _draw_args(s)
    s.add_argument("--out", required=True, metavar="FILE", help="figure to write: .png, .svg or .pdf")
    s.add_argument("--engine", choices=("auto", "ete3", "matplotlib"), default="auto",
                   help="renderer (default: ete3 when PyQt5 is installed, else matplotlib)")

    s = sub.add_parser("view", help="open a family tree in ete3's interactive window",
                       description="The drawing of `phylohf draw`, in ete3's tree viewer (needs PyQt5 "
                       "and a display).")
    _draw_args(s)

    from .export.draw import ATTRIBUTES
    s = sub.add_parser("html", help="write one family as an interactive, self-contained HTML page",
                       description="Write one family as a single HTML file that opens offline in any browser: "
                       "rectangular or radial tree, branches coloured by any NHX attribute (a selector on the "
                       "page), relation line styles and markers as `phylohf draw`, a search box, each model's "
                       "metadata and Hub link on hover or click, and with --asr its posterior probabilities. "
                       "Families above --max-nodes open as `phylohf draw --collapse-by COLOUR --max-nodes N` draws them (uniform "
                       "clades, then the smallest, as triangles; sibling leaves of one colour grouped); click to expand.")
    _store_arg(s)
    s.add_argument("--family", metavar="ROOT_ID", help="root model id of the family (default: the largest; "
                   "`phylohf families` lists them)")
    s.add_argument("--out", required=True, metavar="FILE", help="the page to write (.html)")
    s.add_argument("--color-by", default="license", choices=ATTRIBUTES, help="attribute coloured when the page "
                   "opens, whose uniform clades start collapsed (default: license)")
    s.add_argument("--asr", metavar="TRAIT", type=_trait_name(), help="also show the posterior probabilities of "
                   "this trait at every model (Mk ER marginal reconstruction, as `phylohf asr --trait`)")
    s.add_argument("--max-nodes", type=at_least(2), default=5000, help="above this many models, the page opens "
                   "collapsed to about this many nodes (default 5000)")

    s = sub.add_parser("audit-licenses", help="edges whose child license cannot follow from the parent's",
                       description="Map license ids to classes (permissive, public-domain, copyleft, "
                       "non-commercial, community, other) and list every parent -> child edge (merge parents "
                       "included) that breaks a compatibility rule, with counts per rule, relation type and "
                       "family; models without a license get their most probable license from relatives "
                       "(Mk ER marginals). Rules the license texts leave open are marked certain=false.")
    _store_arg(s)
    s.add_argument("--family", metavar="ROOT_ID", help="only the family rooted at this model")
    s.add_argument("--top", type=COUNT, default=10, help="worst families shown (default 10)")
    s.add_argument("--examples", type=COUNT, default=10, help="violations shown as examples (default 10; "
                   "--json lists all)")
    s.add_argument("--no-impute", action="store_true", help="skip imputing the licenses of models without one")
    s.add_argument("--impute-top", type=POSITIVE, default=6, help="license states of the imputation model: the N "
                   "most frequent ids, the rest lumped (default 6)")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed of the Mk fit (default 1)")
    s.add_argument("--json", action="store_true", help='print {"violations": [...], "counts": ...} as JSON')

    s = sub.add_parser("relatives", help="kinship tests: are siblings more alike than parent and child?",
                       description="Similarity of relatives (parent/child, siblings, grandparents, "
                       "great-grandparents, aunts/uncles, first cousins, random pairs within and across "
                       "families) per trait group, with cluster-bootstrap CIs over families, the "
                       "siblings minus parent/child difference, and claims (family resemblance, sibling "
                       "excess, shared change) tested against a null simulated on the same trees, adjusted "
                       "together (Benjamini-Hochberg).")
    _store_arg(s)
    s.add_argument("--groups", default="license,language,task,tag,card,all", metavar="G[,G]",
                   help="trait groups: license, language, task, library, architecture, tag(s), dataset, "
                   "card, all (default: license,language,task,tag,card,all); ignored by text metrics")
    s.add_argument("--relations", metavar="R[,R]", help="kin classes along these edge types only: "
                   "finetune, adapter, quantized, merge (default: all)")
    s.add_argument("--family", metavar="ROOT_ID", help="only the family rooted at this model")
    s.add_argument("--metric", default="jaccard", choices=("jaccard", "hamming", "tfidf", "levenshtein"),
                   help="Jaccard similarity of trait sets (default), Hamming distance (number of differing "
                   "traits; class means exact), or model-card text: TF-IDF cosine, normalised Levenshtein")
    s.add_argument("--bootstrap", type=COUNT, default=1000, help="cluster-bootstrap replicates (default 1000)")
    s.add_argument("--null", type=COUNT, default=200,
                   help="null replicates of the sibling-excess and shared-change tests (default 200; 0 skips)")
    s.add_argument("--null-model", choices=("ARD", "SYM", "observed", "symmetric"), default="ARD",
                   help="the null's rates, per relation type with hidden rate classes of parents, children "
                   "changing independently: ARD (default; also 'observed': direction allowed, sharing not) "
                   "or SYM (also 'symmetric': each pair of states exchanges at one rate)")
    s.add_argument("--max-pairs", type=POSITIVE, default=100_000,
                   help="classes with more pairs are sampled uniformly, this many pairs (default 100000)")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed (default 1)")
    s.add_argument("--json", action="store_true", help='print {"groups": {group: {"classes": ..., '
                   '"sib_minus_pc": ..., "null": ...}}, "claims": [...]} as JSON')

    s = sub.add_parser("report", help="the full report: anatomy, kinship, transitions, audit, drift, ASR",
                       description="Run every analysis on the store and print one plain-text report in "
                       "numbered sections (data and conventions; family anatomy; kinship tests against a "
                       "neutral null; transition matrices and orderings; license audit; drift; ancestral "
                       "reconstruction), every estimate with its CI or p-value.")
    _store_arg(s)
    s.add_argument("--out", metavar="FILE", help="write the text here instead of standard output")
    s.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    s.add_argument("--figures", metavar="DIR", help="also write PNG figures (needs matplotlib: "
                   "pip install 'phylohf[view]')")
    s.add_argument("--html", metavar="FILE", help="also write the report as one self-contained page: its "
                   "sections, the figures inlined, the largest family's explorer (as `phylohf html`)")
    s.add_argument("--bootstrap", type=COUNT, default=1000, help="cluster-bootstrap replicates (default 1000)")
    s.add_argument("--null", type=COUNT, default=200, help="null-engine replicates of every claim: the "
                   "statistic recomputed on traits re-simulated down the same trees (default 200; 0 leaves "
                   "only descriptive numbers and the bootstrap claims)")
    _missing_arg(s, "of the license, in the transitions, the audit and the reconstruction; ")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed (default 1)")

    s = sub.add_parser("demo", help="simulate an ecosystem and run everything on it (no network)",
                       description="Simulate a Hub-like ecosystem, ingest it into a store, export and draw "
                       "its family trees, and print the full report (as `phylohf report`).")
    s.add_argument("--models", type=POSITIVE, default=50_000, help="number of models (default 50000, about "
                   "20 s; the power of each claim grows with it: scripts/calibrate.py measures it)")
    s.add_argument("--seed", type=COUNT, default=7, help="random seed (default 7)")
    s.add_argument("--scenario", choices=SCENARIOS, default="directional",
                   help="simulated trait evolution, as `phylohf simulate --scenario` (default directional)")
    s.add_argument("--workdir", metavar="DIR", help="keep the snapshot and store here "
                   "(default: a temporary directory, removed afterwards)")
    s.add_argument("--trees", default="trees/demo", metavar="DIR",
                   help="where the family trees go (default: trees/demo)")
    p.commands = sub.choices            # name -> its parser, which reports its own usage errors
    return p


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line parsed; an option the command does not know is a usage error of that
    command (its usage shown), not of ``phylohf``."""
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:
        p.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args
