"""Calibration of the report's claims: how often each is called supported when it is false.

``calibrate(scenario, models, replicates)`` simulates that many ecosystems of one
scenario (seeds ``seed``, ``seed + 1``, ...), runs the full report's claims on each and
counts, per claim, the share of runs in which it was supported. The simulator's truth
names the claims each scenario plants (``truth["planted"]``): for those the share is the
power, for every other claim it is the false-positive rate. Goal: at most 0.08 for every
claim under every neutral scenario, at least 0.8 for each planted effect of the
directional scenario at 100,000 models.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .full import Settings, build
from ..text import table

FALSE_POSITIVE_GOAL = 0.08
POWER_GOAL = 0.8


def replicate(scenario: str, models: int, seed: int, settings: Settings, workdir: Path) -> tuple[list[dict], set]:
    """The claims of the report on one simulated ecosystem, and the claim ids it plants."""
    from ..genealogy.forest import load
    from ..store.ingest import ingest_file
    from ..sources.simulate import simulate, write_listing
    from ..store.database import Store
    sim = simulate(models, seed=seed, scenario=scenario)
    snapshot, path = workdir / f"{scenario}-{seed}.parquet", workdir / f"{scenario}-{seed}.duckdb"
    write_listing(sim, snapshot)
    with Store(path) as store:
        ingest_file(store, snapshot, progress=False)
    with Store(path, read_only=True) as store:
        lineage, fams, genome = load(store, with_genome=True)
        report = build(store, lineage, fams, genome, settings)
    snapshot.unlink()
    path.unlink()
    return report.to_dict()["claims"], set(sim.truth.get("planted", []))


def calibrate(scenario: str, models: int, replicates: int, seed: int = 1, settings: Settings | None = None,
              progress: bool = False) -> dict:
    """Per claim id: runs, times supported, share, planted; plus seconds per replicate."""
    from tqdm import tqdm
    settings = settings or Settings(bootstrap=200)
    tally: dict[str, dict] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for r in tqdm(range(replicates), desc=f"calibrate {scenario}", disable=not progress):
            claims, planted = replicate(scenario, models, seed + r, settings, Path(tmp))
            for c in claims:
                t = tally.setdefault(c["id"], {"runs": 0, "supported": 0, "planted": c["id"] in planted})
                t["runs"] += 1
                t["supported"] += bool(c["supported"])
    for t in tally.values():
        t["share"] = t["supported"] / t["runs"]
    return {"scenario": scenario, "models": models, "replicates": replicates, "seed": seed,
            "null_replicates": settings.null, "claims": dict(sorted(tally.items())),
            "seconds_per_replicate": (time.perf_counter() - t0) / max(replicates, 1)}


def report(result: dict) -> str:
    """The calibration table: per claim, supported share, and whether it meets its goal."""
    rows = []
    for cid, t in result["claims"].items():
        goal = POWER_GOAL if t["planted"] else FALSE_POSITIVE_GOAL
        met = t["share"] >= goal if t["planted"] else t["share"] <= goal
        rows.append([cid, "planted (power)" if t["planted"] else "false (false-positive rate)",
                     f"{t['supported']}/{t['runs']}", f"{t['share']:.2f}", ("yes" if met else "NO")])
    return "\n".join([f"Calibration: scenario {result['scenario']}, {result['models']:,} models, "
                      f"{result['replicates']} ecosystems (seeds from {result['seed']}), {result['null_replicates']} "
                      f"null replicates per claim, {result['seconds_per_replicate']:.0f} s per ecosystem", "",
                      *table(["claim", "is", "supported", "share", "goal met"], rows, right={2, 3})])
