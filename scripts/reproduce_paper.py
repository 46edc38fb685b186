"""The analyses of Laufer, Oderinwale and Kleinberg, "Anatomy of a Machine Learning Ecosystem:
2 Million Models on Hugging Face" (arXiv 2508.06811), on any store: each claim of the paper
next to what phylohf measures here, with its CI or p-value and a verdict.

    python scripts/reproduce_paper.py [--store eco.duckdb] [--models 20000 --seed 7]
                                      [--bootstrap 1000] [--null 200] [--json out.json]

Without ``--store`` it simulates an ecosystem (``phylohf simulate``'s directional scenario)
and runs on that. The numbers come from ``phylohf.fullreport`` (the same as ``phylohf report``).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from phylohf.cli import load
from phylohf.fullreport import Settings, build
from phylohf.ingest import ingest_file
from phylohf.overview import table
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store import Store

# mean parent -> child Jaccard distance of the trait sets in the paper's snapshot
PAPER_DISTANCE = {"language": 0.128, "license": 0.150, "task": 0.231}


def _flow(flows: list[dict], name: str) -> dict | None:
    return next((f for f in flows if f["name"] == name), None)


def claims(d: dict) -> list[list[str]]:
    """(claim, the paper, measured here, verdict) rows from the report's JSON."""
    rows = []
    kin = d["kinship"]["groups"]
    for group, paper in PAPER_DISTANCE.items():
        c = kin.get(group, {}).get("classes", {})
        pc, far = c.get("parent_child", {}), c.get("other_family", {})
        if pc.get("mean") is None or far.get("mean") is None:
            continue
        rows.append([f"family resemblance ({group})", f"parent/child Jaccard distance {paper:.3f}",
                     f"parent/child {1 - pc['mean']:.3f} [{1 - pc['ci'][1]:.3f}, {1 - pc['ci'][0]:.3f}], "
                     f"unrelated {1 - far['mean']:.3f}",
                     "supported" if pc["ci"] and pc["ci"][0] > far["mean"] else "not supported"])
    for group in ("license", "language", "task"):
        g = kin.get(group)
        if not g or g["sib_minus_pc"]["diff"] is None:
            continue
        diff, null = g["sib_minus_pc"], g["null"]
        ok = diff["diff"] > 0 and diff["ci"] and diff["ci"][0] > 0 and null and null["p"] <= 0.05
        rows.append([f"siblings closer than parent/child ({group})", "yes, against neutral expectation",
                     f"{diff['diff']:+.3f} [{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}]; null "
                     f"{null['diff']:+.3f}, p = {null['p']:.3g}" if null else f"{diff['diff']:+.3f}",
                     "supported" if ok else "not supported"])
    drift = d["drift"]
    f = _flow(drift["license"]["flows"], "restrictive -> permissive or copyleft")
    if f:
        rows.append(["licenses drift restrictive -> permissive/copyleft", "yes",
                     f"{f['forward']:,} vs {f['backward']:,} edges, log ratio {f['log_ratio']:+.2f} "
                     f"[{f['ci'][0]:+.2f}, {f['ci'][1]:+.2f}], p = {f['p']:.3g}",
                     "supported" if f["significant"] and f["log_ratio"] > 0 else "not supported"])
    o = d["transitions"]["ordering"]
    rows.append(["license changes follow one ordering", "yes (maximum compatible ordering)",
                 f"{' < '.join(o['order'][:4])} ...: {o['share']:.0%} forward, permutation p = "
                 f"{o['permutation_p']:.3g}" if o["permutation_p"] is not None else f"{o['share']:.0%} forward",
                 "supported" if o["permutation_p"] is not None and o["permutation_p"] <= 0.05 else "not supported"])
    for name, claim in (("multilingual -> English only", "multilingual -> English-only"),
                        ("fewer languages (vs more)", "fewer languages downstream")):
        f = _flow(drift["language"]["flows"], name)
        if f:
            rows.append([f"languages drift: {claim}", "yes",
                         f"{f['forward']:,} vs {f['backward']:,} edges, p = {f['p']:.3g}",
                         "supported" if f["significant"] and f["log_ratio"] > 0 else "not supported"])
    cards = drift.get("cards")
    if cards:
        m = cards["log_length_ratio"]
        rows.append(["cards get shorter", "yes", f"median log(child/parent) {m['median']:+.3f} "
                     f"[{m['ci'][0]:+.3f}, {m['ci'][1]:+.3f}] over {m['n']:,} edges",
                     "supported" if m["ci"][1] < 0 else "not supported"])
        f = _flow(cards["flows"], "template gained (vs lost)")
        if f:
            rows.append(["cards get more templated", "yes", f"template gained {f['forward']:,} vs lost "
                         f"{f['backward']:,}, p = {f['p']:.3g}",
                         "supported" if f["significant"] and f["log_ratio"] > 0 else "not supported"])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", help="a phylohf store (default: simulate one)")
    p.add_argument("--models", type=int, default=100_000, help="simulated models without --store (default 100000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--bootstrap", type=int, default=1000, help="cluster-bootstrap replicates (default 1000)")
    p.add_argument("--null", type=int, default=200, help="neutral-null replicates (default 200)")
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
    rows = claims(report.data)
    print("\n".join(table(["claim of the paper", "the paper", "measured here", "verdict"], rows)))
    if args.json:
        Path(args.json).write_text(json.dumps({"claims": [dict(zip(("claim", "paper", "measured", "verdict"), r))
                                                          for r in rows], **report.json()}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
