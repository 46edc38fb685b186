"""The ``phylohf`` command: it parses the arguments (:mod:`.options`), opens the ecosystem
(:mod:`.api`), calls one method and prints its result, as text or as JSON; errors are one
line on stderr and an exit code (:mod:`.exits`)."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# The passes multiply many (n x k) by (k x k) matrices, where BLAS threads only add overhead
# (2-3x slower fits on 2 cores): one thread, unless the user set one; set before numpy loads
# BLAS, so that its threads are never started (0.1 s of CPU).
_USER_BLAS = "OPENBLAS_NUM_THREADS" in os.environ
if not _USER_BLAS:
    for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SKIPPED, duckdb_error, failure, interrupts
from .options import parse
from .store.database import Store, StoreError

# the analyses: command -> (Ecosystem method, indent of its JSON)
ANALYSES = {"families": ("family_list", 1), "asr": ("asr", None), "changes": ("changes", None),
            "correlate": ("correlate", None), "transitions": ("transitions", 1),
            "audit-licenses": ("audit_licenses", 1), "relatives": ("relatives", 1)}


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
    from .store.ingest import ingest_source
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


def cmd_analysis(args) -> int:
    """An analysis: the Ecosystem method of the command, called with the options it names."""
    from inspect import signature

    from .api import Ecosystem
    name, indent = ANALYSES[args.command]
    method = getattr(Ecosystem(args.store), name)
    result = method(**{k: v for k, v in vars(args).items() if k in signature(method).parameters})
    if args.json:
        _print_json(result.to_dict(), indent=indent)
    else:
        print(result)
    return 0


def cmd_trees(args) -> int:
    from .api import Ecosystem
    from .export.trees import export_trees
    _writable(out_dir=args.out)
    lineage, fams, genome = Ecosystem(args.store).load()
    report = export_trees(lineage, fams, genome, args.out, formats=args.format.split(","),
                          lengths=args.branch_lengths, ancestors=args.ancestors,
                          min_size=args.min_size, family=args.family, color_by=args.color_by,
                          progress=_progress(args), forest=args.forest)
    print(f"wrote {report.files:,} files for {report.families:,} families into {report.out}/ "
          f"(index: {report.out / 'index.tsv'})")
    for note in report.notes:
        print(f"  {note}")
    return 0


def _drawing(args):
    """The drawing of ``--family`` (default: the largest family) for ``draw`` and ``view``."""
    from .api import Ecosystem
    from .export.draw import drawing
    lineage, fams, genome = Ecosystem(args.store).load()
    root = lineage.family_root(args.family) if args.family else int(fams.root[0])
    return drawing(lineage, genome, root, args.color_by, args.collapse_by, args.max_nodes)


def cmd_draw(args) -> int:
    from .export.draw import render
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
    from .export.draw import view
    view(_drawing(args), args.layout)
    return 0


def cmd_html(args) -> int:
    from .api import Ecosystem
    from .export.explorer import family_root, write_page
    _writable(out=args.out)
    eco = Ecosystem(args.store)
    lineage, fams, genome = eco.load()
    with eco.store() as store:
        data, size = write_page(lineage, genome, family_root(lineage, args.family, fams), args.out, store,
                                color_by=args.color_by, asr=args.asr, max_nodes=args.max_nodes)
    print(f"wrote {args.out}: {len(data['ids']):,} models of {data['root']}, {len(data['collapsed']):,} clades "
          f"collapsed, the leaves of {len(data['folded']):,} parents grouped, {size / 1e6:.1f} MB; open it in a "
          "browser (no network needed)")
    return 0


def cmd_report(args) -> int:
    from .api import Ecosystem
    if args.figures or args.html:       # before the analyses, not after them
        from .export.draw import require_matplotlib
        require_matplotlib("report --figures" if args.figures else "report --html")
    _writable(out=args.out, json=args.json, figures_dir=args.figures, html=args.html)
    t0 = time.perf_counter()
    eco = Ecosystem(args.store)
    report = eco.report(bootstrap=args.bootstrap, null=args.null, missing=args.missing, seed=args.seed,
                        progress=_progress(args))
    lineage, fams, genome = eco.load()
    if args.html:
        from .report.page import write_report_page
        with eco.store() as store:
            write_report_page(report, lineage, genome, fams, args.html, store)
    text = report.text()
    if args.out:
        _save(args.out, lambda f: f.write(text))
    else:
        print(text)
    if args.json:
        _save(args.json, lambda f: json.dump(report.to_dict(), f, indent=1, default=float))
    if args.figures:
        from .report.figures import write_figures
        written = write_figures(report, lineage, genome, fams, args.figures)
    wrote = [*([args.out] if args.out else []), *([args.json] if args.json else []), *([args.html] if args.html else []),
             *([f"{len(written)} figures in {args.figures}/"] if args.figures else [])]
    print(f"report: {len(report.sections)} sections in {time.perf_counter() - t0:.1f} s"
          + (f"; wrote {', '.join(map(str, wrote))}" if wrote else ""), file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from .api import Ecosystem
    from .export.draw import MissingExtra
    from .export.trees import FORMATS, export_trees
    from .report.figures import family_figure
    from .store.ingest import ingest_file
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
        eco = Ecosystem(store_path)
        lineage, fams, genome = eco.load()
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
        report = eco.report(seed=args.seed, progress=_progress(args),
                            source=f"the simulated ecosystem ({args.scenario}, seed {args.seed})")
        print(report.text())
    print(f"demo finished in {time.perf_counter() - t0:.1f} s"
          + (f"; store and snapshot kept in {args.workdir}" if args.workdir else ""))
    return 0


COMMANDS = {"simulate": cmd_simulate, "ingest": cmd_ingest, "trees": cmd_trees, "draw": cmd_draw,
            "view": cmd_view, "html": cmd_html, "report": cmd_report, "demo": cmd_demo,
            **{name: cmd_analysis for name in ANALYSES}}


def _one_blas_thread() -> None:
    """One BLAS thread (see ``_USER_BLAS``) also where BLAS was loaded before this module
    (``main`` called in a Python session)."""
    if not _USER_BLAS:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1, user_api="blas")


def _heap_for_temporaries() -> None:
    """glibc gives every block of 128 KB or more its own mapping, returned on free, so the
    passes' (n x k) temporaries fault their pages in afresh at every call: 25-35% of an Mk
    fit on 10,000 tips. Blocks up to 16 MB come from the heap, which keeps up to 64 MB
    free, unless the user tuned malloc (MALLOC_*_ variables)."""
    if not sys.platform.startswith("linux") or any(v.startswith("MALLOC_") for v in os.environ):
        return
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):               # not glibc
        return
    mallopt(-3, 16 << 20)                           # M_MMAP_THRESHOLD
    mallopt(-1, 64 << 20)                           # M_TRIM_THRESHOLD


def main(argv: list[str] | None = None) -> int:
    command = "phylohf"
    with interrupts() as interrupted:
        try:
            args = parse(argv)
            command = f"phylohf {args.command}"
            _one_blas_thread()
            _heap_for_temporaries()
            return COMMANDS[args.command](args)
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:         # the reader went away (| head): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as e:
            if not interrupted():
                if not (isinstance(e, (StoreError, OSError, ValueError)) or duckdb_error(e)):
                    raise
                print(f"{command}: error: {failure(e)}", file=sys.stderr)
                return EXIT_FAILED
    kept = "; committed batches are kept" if command in ("phylohf ingest", "phylohf demo") else ""
    print(f"{command}: interrupted{kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
