"""The analyses of Laufer, Oderinwale and Kleinberg, "Anatomy of a Machine Learning Ecosystem:
2 Million Models on Hugging Face" (arXiv 2508.06811), on any store: each claim of the paper
next to the claims of the report that test it (``phylohf report --json``'s ``claims``), with
its statistic, p, q and verdict.

    python scripts/reproduce_paper.py [--store eco.duckdb] [--models 20000 --seed 7]
                                      [--bootstrap 1000] [--null 200] [--json out.json]

Without ``--store`` it simulates an ecosystem (``phylohf simulate``'s directional scenario)
and runs on that. The numbers come from ``phylohf.report.full`` (the same as ``phylohf report``).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from phylohf.api import load
from phylohf.report.full import Settings, build
from phylohf.store.ingest import ingest_file
from phylohf.text import table
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store.database import Store

# the paper's claims, each with the report's claim ids that test it
PAPER = (("family resemblance: parent and child share licenses, languages, tasks", "family_resemblance:"),
         ("siblings are closer to each other than to their parent", "sibling_excess:"),
         ("siblings change together", "shared_change:"),
         ("licenses drift from restrictive to permissive or copyleft", "license_drift:restrictive_to_open"),
         ("license changes follow one ordering", "license_ordering"),
         ("license classes change in one order", "license_class_ordering"),
         ("languages drift from multilingual to English only", "language_drift:multilingual_to_english"),
         ("models declare fewer languages downstream", "language_drift:fewer_languages"),
         ("cards get shorter downstream", "card_drift:shorter"),
         ("cards get more templated downstream", "card_drift:template"))


def claims(report_json: dict) -> list[list[str]]:
    """(claim of the paper, the report's claim, measured here, verdict) rows from the report's
    ``claims`` list (q: Benjamini-Hochberg across all of the report's claims)."""
    rows = []
    for paper, prefix in PAPER:
        for c in report_json["claims"]:
            if c["id"] == prefix or (prefix.endswith(":") and c["id"].startswith(prefix)):
                rows.append([paper, c["id"], f"{c['statistic']:.4g} (null {c['statistic'] - c['effect']:.4g}), "
                             f"p = {c['p']:.2g}, q = {c['q']:.2g}" if c["q"] is not None else "no test",
                             "supported" if c["supported"] else "not supported"])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", help="a phylohf store (default: simulate one)")
    p.add_argument("--models", type=int, default=100_000, help="simulated models without --store (default 100000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--bootstrap", type=int, default=1000, help="cluster-bootstrap replicates (default 1000)")
    p.add_argument("--null", type=int, default=200, help="null-engine replicates per claim (default 200)")
    p.add_argument("--json", help="also write the claims and the report's numbers here")
    args = p.parse_args()
    settings = Settings(seed=args.seed, bootstrap=args.bootstrap, null=args.null)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.store) if args.store else Path(tmp) / "sim.duckdb"
        if not args.store:
            snapshot = Path(tmp) / "sim.parquet"
            write_listing(simulate(args.models, seed=args.seed), snapshot)
            with Store(path) as store:
                ingest_file(store, snapshot, progress=False)
            print(f"simulated {args.models:,} models (directional scenario, seed {args.seed})")
        with Store(path, read_only=True) as store:
            lineage, fams, genome = load(store, with_genome=True)
            report = build(store, lineage, fams, genome, settings, progress=sys.stderr.isatty())
    rows = claims(report.to_dict())
    if not args.store:
        print("The store is simulated: this checks that phylohf recovers the effects the simulator planted, "
              "not the paper's findings (run it with --store on a crawl of the Hub for those).")
    print("\n".join(table(["claim of the paper", "claim tested", "measured here", "verdict"], rows)))
    if args.json:
        Path(args.json).write_text(json.dumps({"paper": [dict(zip(("claim", "id", "measured", "verdict"), r))
                                                         for r in rows], **report.to_dict()}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
