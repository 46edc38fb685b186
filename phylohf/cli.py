"""The ``phylohf`` command: thin subcommands that parse arguments and call the library.

Exit codes: 0 success; 1 the command failed (one line on stderr says why and what to
do); 2 bad command-line usage (values are checked as they are parsed); 3 ``ingest
--strict`` skipped malformed rows; 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from .store import DEFAULT_STORE, Store, StoreError

EXIT_FAILED, EXIT_SKIPPED, EXIT_INTERRUPTED = 1, 3, 130      # 2 (usage) comes from argparse


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


def _writable(**outputs) -> None:
    """Fail now, before any work, if an output (option name -> file, or folder when the
    name ends in ``_dir``) cannot be written; nothing is left behind by the check."""
    for option, target in outputs.items():
        if target is None:
            continue
        path = Path(target)
        flag = "--" + option.removesuffix("_dir").replace("_", "-")
        try:
            if option.endswith("_dir"):
                path.mkdir(parents=True, exist_ok=True)
                tempfile.TemporaryFile(dir=path).close()
            else:
                existed = path.exists()
                open(path, "a").close()
                if not existed:
                    path.unlink()
        except OSError as e:
            raise ValueError(f"cannot write {flag} {path}: {e.strerror}; choose another {flag}") from None


def _save(path, write) -> None:
    """``write(file)`` into the text file ``path``; an OSError names the file."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            write(f)
    except OSError as e:
        e.filename = e.filename or str(path)
        raise


def _print_json(obj, indent: int | None = None) -> None:
    """``obj`` as JSON on standard output, encoded whole and written in one call."""
    sys.stdout.write(json.dumps(obj, indent=indent) + "\n")


def _progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


def cmd_simulate(args) -> int:
    from .sources import simulate as sim
    _writable(out=args.out, truth=args.truth)
    t0 = time.perf_counter()
    result = sim.simulate(args.models, seed=args.seed, scenario=args.scenario, progress=_progress(args))
    sim.write_listing(result, args.out)
    if args.truth:
        sim.write_truth(result, args.truth)
    print(f"simulated {args.models:,} models ({args.scenario}, seed {args.seed}) -> {args.out}"
          + (f", truth -> {args.truth}" if args.truth else "") + f" in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_ingest(args) -> int:
    from .ingest import ingest_source
    hub = None
    skipped, stopped = 0, None
    for source in args.files:          # before the store is created
        if source.startswith(("hub:", "hf-dataset:")):
            from .sources.hub import HubSettings        # huggingface_hub only for the Hub's sources
            hub = HubSettings(cards=args.cards, api_quota=args.rate_limit, workers=args.workers)
        elif not Path(source).is_file():
            raise FileNotFoundError(f"no such file: {source} (nothing was ingested)")
    with Store(args.store) as store:
        for source in args.files:
            report = ingest_source(store, source, hub, limit=args.limit, progress=_progress(args),
                                   keep_raw=args.raw)
            print(report.summary())
            skipped += report.skipped
            if report.stopped:
                stopped = report.stopped
                break
        print(f"store {store.path}: {store.count():,} models")
    if stopped:
        print(f"phylohf ingest: error: crawl stopped: {stopped}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_SKIPPED if args.strict and skipped else 0


def load(store: Store, with_genome: bool = False):
    """Lineage, families and (optionally) genomes of a store."""
    from .families import families
    from .genome import build
    from .lineage import Lineage
    lineage = Lineage.from_store(store)
    genome = build(store, lineage.n) if with_genome else None
    return lineage, families(lineage), genome


def cmd_families(args) -> int:
    from .overview import families_table
    with Store(args.store, read_only=True) as store:
        lineage, fams, _ = load(store)
    eligible = int((fams.size >= args.min_size).sum())     # families are sorted by size
    top = min(args.top or eligible, eligible)
    if args.json:
        _print_json({"families": fams.rows(lineage, top)}, indent=1)
    else:
        print(f"{len(fams):,} families, {eligible:,} with at least {args.min_size} node(s)")
        print("\n".join(families_table(lineage, fams, top)))
    return 0


def cmd_trees(args) -> int:
    from .export.trees import export_trees
    _writable(out_dir=args.out)
    with Store(args.store, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
    report = export_trees(lineage, fams, genome, args.out, formats=args.format.split(","),
                          lengths=args.branch_lengths, ancestors=args.ancestors,
                          min_size=args.min_size, family=args.family, color_by=args.color_by,
                          progress=_progress(args), forest=args.forest)
    print(f"wrote {report.files:,} files for {report.families:,} families into {report.out}/ "
          f"(index: {report.out / 'index.tsv'})")
    for note in report.notes:
        print(f"  {note}")
    return 0


def _family_scope(lineage, family: str | None):
    """(node mask of the family rooted at ``family``, or all nodes; a description)."""
    if family is None:
        return np.ones(lineage.n, bool), "all families"
    return lineage.root == lineage.family_root(family), f"family {family}"


def _trait(args):
    """Lineage, genomes and the states of ``--trait`` within ``--family`` (-1 outside it)."""
    from .traits import character
    with Store(args.store, read_only=True) as store:
        lineage, _, genome = load(store, with_genome=True)
    states, names = character(genome, args.trait, args.top, getattr(args, "missing", "unknown"), lineage.observed)
    scope_mask, scope = _family_scope(lineage, args.family)
    states = np.where(scope_mask, states, -1)
    if not (states >= 0).any():
        raise ValueError(f"no model in {scope} declares {args.trait}: there is nothing to analyse "
                         "(pick another --trait, or a store whose models declare it)")
    return lineage, genome, states, names, scope_mask, scope


def _tree_file(path):
    """A rooted Newick tree file as (lineage, branch lengths: the tree's, or unit if any is missing)."""
    from .branch_lengths import BranchLengths
    from .export.newick import read_newick, tree_lineage
    with open(path, encoding="utf-8", newline="") as f:      # CR LF inside labels stays
        lineage, length = tree_lineage(read_newick(f.read()))
    edges = lineage.parent >= 0
    given = not np.isnan(length[edges]).any()
    length = np.where(edges, length if given else 1.0, np.nan)
    return lineage, BranchLengths("tree" if given else "unit", length, np.zeros(lineage.n, bool), np.zeros(0))


def _user_tree(args):
    """A rooted tree file and a state table (``asr --tree --states``) as lineage, lengths, states."""
    from .traits import from_table
    if not args.states:
        raise ValueError("--tree needs --states TABLE (tab-separated: node, state)")
    lineage, lengths = _tree_file(args.tree)
    states, names = from_table(args.states, lineage.ids)
    return lineage, lengths, states, names, f"tree {args.tree}"


def cmd_asr(args) -> int:
    from .branch_lengths import branch_lengths
    from .phylo.reconstruct import reconstruct
    from .report import asr_report
    if args.tree:
        if args.missing == "state":
            raise ValueError("--missing state needs the store (it tells undeclared models from placeholders); "
                             "with --tree, give '(undeclared)' as a state in the --states table")
        lineage, lengths, truth, names, scope = _user_tree(args)
        scope_mask = np.ones(lineage.n, bool)
    else:
        lineage, genome, truth, names, scope_mask, scope = _trait(args)
        lengths = branch_lengths(lineage, args.branch_lengths, genome)
    r = reconstruct(lineage, truth, len(names), lengths.length, args.model, args.root_prior,
                    starts=args.starts, seed=args.seed, mask=args.mask, scope=scope_mask)
    fit, marg, states = r.fit, r.marginals, r.states
    from .traits import missing_convention
    conventions = r.conventions + f"; branch lengths {lengths.describe()}" + (
        "" if args.tree else f"; {missing_convention(names)}")
    if args.compare:
        lines_cmp, json_cmp = _compare_models(lineage, states, lengths.length, args, len(names), fit)
    else:
        lines_cmp, json_cmp = [], {}
    lines_het, json_het = _heterogeneous(lineage, states, lengths.length, args, len(names), fit, names)
    lines_cmp, json_cmp = lines_cmp + lines_het, {**json_cmp, **json_het}
    nodes = np.flatnonzero(scope_mask)
    extra, lines = _other_methods(args.method, lineage, states, fit.Q, lengths.length, args.root_prior,
                                  names, nodes, r.imputed)
    if args.json:
        _print_json({"trait": args.trait, "scope": scope, "model": fit.model, "states": names,
                     "loglik": fit.loglik, "aic": fit.aic, "Q": fit.Q.tolist(), "root_prior": args.root_prior,
                     "at_bound": fit.at_bound, **({"pi": fit.pi.tolist()} if fit.pi is not None else {}),
                     "branch_lengths": lengths.kind, "mask_check": r.checks,
                     "nodes": {str(i): {"observed": o, **dict(zip(names, p))} for i, o, p in zip(
                         lineage.ids[nodes].tolist(), (truth[nodes] >= 0).tolist(),
                         marg.posterior[nodes].round(6).tolist())}, **extra, **json_cmp})
    else:
        print(asr_report(fit, marg, names, args.trait, scope, conventions, r.imputed, r.uninformed, r.checks))
        if lines_cmp + lines:
            print("\n".join(lines_cmp + lines))
    return 0


def _compare_models(lineage, states, lengths, args, k, fit):
    """``--compare``: ER, F81, SYM, GTR, ARD and the LRTs named by what they detect.
    Returns (report lines, JSON fields)."""
    from .phylo.compare import compare_models
    c = compare_models(lineage, states, lengths, k, args.root_prior, starts=args.starts, seed=args.seed,
                       fits={fit.model: fit}, bootstrap=args.bootstrap_lrt)
    return c.lines(), {"compare": c.to_json()}


def _heterogeneous(lineage, states, lengths, args, k, fit, names):
    """``--by-relation`` (one Q per relation type) and ``--rate-classes R`` (hidden rate classes
    of parents): (report lines, JSON fields)."""
    lines, out = [], {}
    if args.by_relation:
        from .phylo.byrelation import fit_by_relation
        r = fit_by_relation(lineage, states, lengths, fit.model, k, args.root_prior, starts=args.starts,
                            seed=args.seed, single=fit, bootstrap=args.bootstrap_lrt)
        lines += r.lines(names)
        out["by_relation"] = r.to_json()
    if args.rate_classes:
        from .phylo.rateclasses import fit_rate_classes
        c = fit_rate_classes(lineage, states, lengths, fit.model, k, args.rate_classes, args.root_prior,
                             starts=args.starts, seed=args.seed, single=fit, bootstrap=args.bootstrap_lrt)
        lines += c.lines()
        out["rate_classes"] = c.to_json(lineage.ids)
    return lines, out


def cmd_changes(args) -> int:
    from .branch_lengths import branch_lengths
    from .phylo.byrelation import relation_groups
    from .phylo.changes import edge_changes, summarise
    from .phylo.mk import fit_mk
    from .ratesreport import changes_report
    lineage, genome, states, names, _, scope = _trait(args)
    lengths = branch_lengths(lineage, args.branch_lengths, genome)
    groups = relation_groups(lineage)[0] if args.by_relation else None
    fit = fit_mk(lineage, states, lengths.length, args.model, args.root_prior, starts=args.starts,
                 seed=args.seed, k=len(names), groups=groups)
    summary = summarise(lineage, edge_changes(lineage, states, fit.Q, lengths.length, args.root_prior, groups),
                        args.bootstrap, args.seed)
    conventions = (f"Mk {args.model} fitted by maximum likelihood" + (" (one Q per relation type)" if groups is not None
                   else "") + f", root prior {args.root_prior}, branch lengths {lengths.describe()}; known states "
                   "clamp their node, unknown ones are summed over; expectations given all the data")
    if args.json:
        _print_json({"trait": args.trait, "scope": scope, "states": names, "model": args.model,
                     "by_relation": bool(args.by_relation), "loglik": fit.loglik, "Q": np.asarray(fit.Q).tolist(),
                     "changes": summary})
    else:
        print(changes_report(summary, names, args.trait, scope, conventions))
    return 0


def cmd_correlate(args) -> int:
    from .branch_lengths import branch_lengths
    from .phylo.correlate import correlate, pair_table
    from .ratesreport import correlate_report
    if args.tree:
        if not args.states:
            raise ValueError("--tree needs --states TABLE (tab-separated: node, A, B as 0/1)")
        lineage, lengths = _tree_file(args.tree)
        a, b, names = pair_table(args.states, lineage.ids)
        scope = f"tree {args.tree}"
    else:
        if not (args.trait and args.with_trait):
            raise ValueError("correlate needs --trait A --with B (binary traits), or --tree FILE --states TABLE")
        from .traits import character
        args.top = 2
        lineage, genome, a, _, scope_mask, scope = _trait(args)
        b = np.where(scope_mask, character(genome, args.with_trait)[0], -1)
        lengths = branch_lengths(lineage, args.branch_lengths, genome)
        names = [args.trait, args.with_trait]
    c = correlate(lineage, a, b, lengths.length, args.root_prior, starts=args.starts, seed=args.seed,
                  bootstrap=args.bootstrap_lrt)
    if args.json:
        _print_json({"A": names[0], "B": names[1], "scope": scope, "root_prior": args.root_prior,
                     "branch_lengths": lengths.kind, "correlate": c.to_json()})
    else:
        print(correlate_report(c, names, scope, f"Pagel (1994) on pairs (A, B) known where both are; root "
                               f"prior {args.root_prior}; branch lengths {lengths.describe()}; both models "
                               "fitted by maximum likelihood, only one character changes at a time"))
    return 0


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


def _other_methods(method, lineage, states, Q, lengths, root_prior, names, nodes, imputed):
    """``--method joint`` or ``parsimony`` besides the marginals: (JSON fields, report lines)."""
    from .phylo.asr import fitch, joint
    ids = lineage.ids
    if method == "joint":
        j = joint(lineage, states, Q, lengths, root_prior)
        per_state = np.bincount(j.state[imputed], minlength=len(names))
        return ({"joint": {"loglik": j.loglik, "nodes": {str(ids[v]): names[j.state[v]] for v in nodes.tolist()}}},
                ["", f"Joint reconstruction (Pupko): log-probability {j.loglik:.2f}; imputed nodes by state: "
                 + ", ".join(f"{names[s]} {c:,}" for s, c in enumerate(per_state) if c)])
    if method == "parsimony":
        sets, changes = fitch(lineage, states, len(names))
        unique = int((sets[imputed].sum(axis=1) == 1).sum())
        return ({"parsimony": {"changes": changes, "nodes": {
                    str(ids[v]): [names[s] for s in np.flatnonzero(sets[v])] for v in nodes.tolist()}}},
                ["", f"Fitch parsimony: {changes:,} changes at least; {unique:,} of {len(imputed):,} "
                 "imputed nodes have a single most-parsimonious state"])
    return {}, []


SET_TRAITS = ("language", "tag", "dataset")


def _trait_name(groups=()):
    """argparse type of ``--trait``: a single-valued group, one of ``groups``, or group:element."""
    from .genome import GROUPS
    from .traits import SINGLE

    def check(value: str) -> str:
        if value in SINGLE or value in groups or value.split(":", 1)[0] in (*GROUPS, "license-class") \
                and ":" in value:
            return value
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected {', '.join((*SINGLE, *groups))}, or group:element "
            f"(group one of {', '.join(GROUPS)}), e.g. language:en, or license-class:NAME")
    return check


def _set_transitions(args, lineage, genome, parent, scope_mask, scope) -> int:
    from .phylo.transitions import flow_tests, gains_and_losses
    from .report import gains_report
    declared = genome.is_declared(args.trait) & scope_mask
    gains, losses = gains_and_losses(parent, genome.group(args.trait), declared)
    p, q = flow_tests(gains, losses)
    elements = genome.traits[genome.columns(args.trait)].tolist()
    if args.json:
        _print_json({"trait": args.trait, "scope": scope, "elements": [
            {"element": e, "gains": int(g), "losses": int(l), "p": None if np.isnan(pi) else pi,
             "q": None if np.isnan(qi) else qi}
            for e, g, l, pi, qi in zip(elements, gains.tolist(), losses.tolist(), p.tolist(), q.tolist())]},
            indent=1)
    else:
        print(gains_report(elements, gains, losses, p, q, args.trait, scope))
    return 0


def cmd_transitions(args) -> int:
    from .claims import adjust, claim_tests
    from .phylo.transitions import ordering_statistic, tree_transitions
    from .records import RELATIONS
    from .report import transitions_json, transitions_report
    set_valued = args.trait in SET_TRAITS
    if set_valued and args.missing == "state":
        raise ValueError(f"--missing state applies to single-valued and binary traits; {args.trait} is "
                         "set-valued (gains and losses count only models declaring it): drop --missing")
    if set_valued:
        with Store(args.store, read_only=True) as store:
            lineage, _, genome = load(store, with_genome=True)
        scope_mask, scope = _family_scope(lineage, args.family)
    else:
        lineage, _, states, names, _, scope = _trait(args)
    only = RELATIONS.index(args.relation) if args.relation else None
    if only is not None:
        scope += f", {args.relation} edges"
    if set_valued:
        parent = np.where(lineage.relation == only, lineage.parent, -1) if only is not None else lineage.parent
        return _set_transitions(args, lineage, genome, parent, scope_mask, scope)
    t = tree_transitions(lineage, states, len(names), only)
    parent = lineage.parent if only is None else np.where(lineage.relation == only, lineage.parent, -1)
    claims = adjust(claim_tests(lineage, states, len(names), {"ordering": (
        f"{args.trait} changes follow one order, more than symmetric change produces",
        ordering_statistic(parent, len(names)))}, args.null, args.seed, "transitions", parent=parent))
    if args.json:
        _print_json({"trait": args.trait, "scope": scope, **transitions_json(t, names),
                     "claims": [c.to_json() for c in claims]}, indent=1)
    else:
        print(transitions_report(t, names, args.trait, scope)
              + (f" (null-engine p = {claims[0].p:.3g}, {args.null} replicates of the symmetric model)"
                 if claims else ""))
    return 0


def _drawing(args):
    """The drawing of ``--family`` (default: the largest family) for ``draw`` and ``view``."""
    from .draw import drawing
    with Store(args.store, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
    root = lineage.family_root(args.family) if args.family else int(fams.root[0])
    return drawing(lineage, genome, root, args.color_by, args.collapse_by, args.max_nodes)


def cmd_draw(args) -> int:
    from .draw import render
    _writable(out=args.out)
    t0 = time.perf_counter()
    d = _drawing(args)
    engine = render(d, args.out, args.layout, args.engine)
    print(f"drew {len(d):,} of {d.family_size:,} nodes of {d.root_id} with {engine} -> {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    for note in d.notes:
        print(f"  collapsed: {note}")
    return 0


def cmd_view(args) -> int:
    from .draw import view
    view(_drawing(args), args.layout)
    return 0


def _draw_args(s: argparse.ArgumentParser) -> None:
    from .draw import ATTRIBUTES
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


def cmd_html(args) -> int:
    from .explorer import family_root, write_page
    _writable(out=args.out)
    with Store(args.store, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        data, size = write_page(lineage, genome, family_root(lineage, args.family, fams), args.out, store,
                                color_by=args.color_by, asr=args.asr, max_nodes=args.max_nodes)
    print(f"wrote {args.out}: {len(data['ids']):,} models of {data['root']}, {len(data['collapsed']):,} clades "
          f"collapsed, the leaves of {len(data['folded']):,} parents grouped, {size / 1e6:.1f} MB; open it in a "
          "browser (no network needed)")
    return 0


def cmd_audit_licenses(args) -> int:
    from .licenses import audit_genomes, audit_report
    with Store(args.store, read_only=True) as store:
        lineage, _, genome = load(store, with_genome=True)
    scope_mask, scope = _family_scope(lineage, args.family)
    result = audit_genomes(lineage, genome, None if args.family is None else scope_mask, scope,
                           None if args.no_impute else args.impute_top, args.seed)
    if args.json:
        _print_json(result.to_json(), indent=1)
    else:
        print(audit_report(result, top=args.top, examples=args.examples))
    return 0


def cmd_relatives(args) -> int:
    from .claims import adjust
    from .relatives import kinship, to_json
    from .report import relatives_report
    split = lambda v: [x.strip() for x in v.split(",") if x.strip()] if v else None    # noqa: E731
    text = args.metric in ("tfidf", "levenshtein")
    with Store(args.store, read_only=True) as store:
        lineage, _, genome = load(store, with_genome=not text)
        result = kinship(lineage, genome, store, groups=split(args.groups), relations=split(args.relations),
                         family=args.family, metric=args.metric, bootstrap=args.bootstrap, null=args.null,
                         seed=args.seed, max_pairs=args.max_pairs, null_model=args.null_model)
    adjust(result["claims"])
    if args.json:
        _print_json(to_json(result), indent=1)
    else:
        print(relatives_report(result))
    return 0


def cmd_report(args) -> int:
    from .fullreport import Settings, build
    if args.figures or args.html:       # before the analyses, not after them
        from .draw import require_matplotlib
        require_matplotlib("report --figures" if args.figures else "report --html")
    _writable(out=args.out, json=args.json, figures_dir=args.figures, html=args.html)
    t0 = time.perf_counter()
    with Store(args.store, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        report = build(store, lineage, fams, genome, Settings(seed=args.seed, bootstrap=args.bootstrap,
                                                              null=args.null, missing=args.missing),
                       progress=_progress(args))
        if args.html:
            from .reportpage import write_report_page
            write_report_page(report, lineage, genome, fams, args.html, store)
    text = report.text()
    if args.out:
        _save(args.out, lambda f: f.write(text))
    else:
        print(text)
    if args.json:
        _save(args.json, lambda f: json.dump(report.json(), f, indent=1, default=float))
    if args.figures:
        from .figures import write_figures
        written = write_figures(report, lineage, genome, fams, args.figures)
    wrote = [*([args.out] if args.out else []), *([args.json] if args.json else []), *([args.html] if args.html else []),
             *([f"{len(written)} figures in {args.figures}/"] if args.figures else [])]
    print(f"report: {len(report.sections)} sections in {time.perf_counter() - t0:.1f} s"
          + (f"; wrote {', '.join(map(str, wrote))}" if wrote else ""), file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from .draw import MissingExtra
    from .export.trees import FORMATS, export_trees
    from .figures import family_figure
    from .fullreport import Settings, build
    from .ingest import ingest_file
    from .sources import simulate as sim
    _writable(trees_dir=args.trees, workdir_dir=args.workdir)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        snapshot, store_path = work / "demo-hub.parquet", work / "demo.duckdb"
        store_path.unlink(missing_ok=True)
        print(f"Simulating an ecosystem of {args.models:,} models (seed {args.seed}, "
              f"{args.scenario} mutation) ...")
        sim.write_listing(sim.simulate(args.models, seed=args.seed, scenario=args.scenario), snapshot)
        with Store(store_path) as store:
            ingested = ingest_file(store, snapshot, progress=_progress(args))
            print(dataclasses.replace(ingested, source=f"simulated snapshot {snapshot.name}").summary())
            lineage, fams, genome = load(store, with_genome=True)
            trees = export_trees(lineage, fams, genome, args.trees, formats=FORMATS)
            print(f"Family trees: {trees.files:,} files for {trees.families:,} families "
                  f"(2+ nodes) in {trees.out}/ ({', '.join(FORMATS)}; index.tsv lists them)")
            png = Path(args.trees) / "largest-family.png"
            try:
                engine = family_figure(lineage, genome, int(fams.root[0]), png)
                print(f"Largest family drawn by {engine}, coloured by license (uniform clades collapsed): {png}")
            except MissingExtra as e:
                print(f"Largest family not drawn: {e}")
            print("Running every analysis for the report ...\n")
            report = build(store, lineage, fams, genome, Settings(seed=args.seed), progress=_progress(args),
                           source=f"the simulated ecosystem ({args.scenario}, seed {args.seed})")
        print(report.text())
    print(f"demo finished in {time.perf_counter() - t0:.1f} s"
          + (f"; store and snapshot kept in {args.workdir}" if args.workdir else ""))
    return 0


def parser() -> argparse.ArgumentParser:
    from .sources.scenarios import SCENARIOS
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
    s.set_defaults(func=cmd_simulate)

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
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("families", help="list family trees with their statistics",
                       description="Families are the trees of the primary-parent forest, named by "
                       "their root model.")
    _store_arg(s)
    s.add_argument("--top", type=COUNT, default=20, help="largest N families (0: all; default 20)")
    s.add_argument("--min-size", type=POSITIVE, default=1, help="only families with at least N nodes")
    s.add_argument("--json", action="store_true", help='print {"families": [...]} as JSON')
    s.set_defaults(func=cmd_families)

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
    s.set_defaults(func=cmd_trees)

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
    s.set_defaults(func=cmd_asr)

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
    s.set_defaults(func=cmd_changes)

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
    s.set_defaults(func=cmd_correlate)

    s = sub.add_parser("transitions", help="parent -> child transition matrix of a trait, with tests",
                       description="Counts and per-generation matrix of parent -> child state changes, "
                       "net flow per pair and Bowker's statistic (descriptive: edges below one parent share its "
                       "state), and the maximum compatible ordering of the states with its null-engine test.")
    _store_arg(s)
    s.add_argument("--trait", default="license", type=_trait_name(SET_TRAITS), metavar="TRAIT",
                   help="a single-valued trait group (license, task, library, architecture; default: "
                   "license), a set-valued one (language, tag, dataset: gains and losses per element), "
                   "or one element as a binary trait: group:element, e.g. language:en")
    s.add_argument("--top", type=POSITIVE, default=8, help="the N most frequent values are states, the rest "
                   "'(rare)' (default 8)")
    s.add_argument("--family", metavar="ROOT_ID", help="only this family")
    s.add_argument("--relation", choices=("finetune", "adapter", "quantized", "merge"),
                   help="only edges of this relation type")
    _missing_arg(s)
    s.add_argument("--null", type=COUNT, default=200,
                   help="replicates of the ordering's test: the share recomputed on the trait re-simulated "
                   "down the same trees under the symmetric model, from the observed founders (default 200; "
                   "0 skips)")
    s.add_argument("--seed", type=COUNT, default=1, help="random seed of the null replicates (default 1)")
    s.add_argument("--json", action="store_true", help="print counts, P, tests and ordering as JSON")
    s.set_defaults(func=cmd_transitions)

    s = sub.add_parser("draw", help="draw a family tree to PNG, SVG or PDF (ete3; matplotlib without PyQt5)",
                       description="Draw one family coloured by a trait, with relation types, placeholders, "
                       "merge parents and a legend; large families are collapsed (see --collapse-by, "
                       "--max-nodes). Uses ete3 (pip install 'phylohf[view]'), else matplotlib.")
    _draw_args(s)
    s.add_argument("--out", required=True, metavar="FILE", help="figure to write: .png, .svg or .pdf")
    s.add_argument("--engine", choices=("auto", "ete3", "matplotlib"), default="auto",
                   help="renderer (default: ete3 when PyQt5 is installed, else matplotlib)")
    s.set_defaults(func=cmd_draw)

    s = sub.add_parser("view", help="open a family tree in ete3's interactive window",
                       description="The drawing of `phylohf draw`, in ete3's tree viewer (needs PyQt5 "
                       "and a display).")
    _draw_args(s)
    s.set_defaults(func=cmd_view)

    from .draw import ATTRIBUTES
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
    s.set_defaults(func=cmd_html)

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
    s.set_defaults(func=cmd_audit_licenses)

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
    s.set_defaults(func=cmd_relatives)

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
    s.set_defaults(func=cmd_report)

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
    s.set_defaults(func=cmd_demo)
    return p


@contextmanager
def _interrupts():
    """Note Ctrl-C while the command runs: DuckDB turns it into errors of its own (e.g.
    ``RuntimeError: Query interrupted``), so the note, not the exception, tells."""
    seen: list[int] = []

    def note(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    here = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, note) if here else None
    try:
        yield lambda: bool(seen)
    finally:
        if here:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _duckdb_error(e: Exception) -> bool:
    """Whether ``e`` is DuckDB's (never, when no command imported DuckDB)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(e, duckdb.Error)


def _failure(e: Exception) -> str:
    """One line for an error the user can act on."""
    if _duckdb_error(e):
        import duckdb
        text = str(e).splitlines()[0]
        if "No space left" in text:
            return f"the disk is full ({text}); free some space and run again (committed batches are kept)"
        if isinstance(e, duckdb.IOException):
            return (f"the store cannot be read ({text}); if it was cut short or damaged, restore it "
                    f"from a copy or ingest again into a new --store")
        return f"the store failed: {text}"
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"the disk is full writing {e.filename or 'the output'}; free some space or write elsewhere"
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.strerror}: {e.filename}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _one_blas_thread() -> None:
    """The passes multiply many (n x k) by (k x k) matrices, where BLAS threads only add
    overhead (2-3x slower fits on 2 cores): one thread, unless the user set one."""
    from threadpoolctl import threadpool_limits
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")             # BLAS libraries loaded later
    threadpool_limits(1, user_api="blas")           # those loaded already


def main(argv: list[str] | None = None) -> int:
    command = "phylohf"
    with _interrupts() as interrupted:
        try:
            args = parser().parse_args(argv)
            command = f"phylohf {args.command}"
            _one_blas_thread()
            return args.func(args)
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:         # the reader went away (| head): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as e:
            if not interrupted():
                if not (isinstance(e, (StoreError, OSError, ValueError)) or _duckdb_error(e)):
                    raise
                print(f"{command}: error: {_failure(e)}", file=sys.stderr)
                return EXIT_FAILED
    kept = "; committed batches are kept" if command in ("phylohf ingest", "phylohf demo") else ""
    print(f"{command}: interrupted{kept}", file=sys.stderr)
    return EXIT_INTERRUPTED

if __name__ == "__main__":
    sys.exit(main())
