"""Calibration harness of the report's claims (see ``phylohf.report.calibration``).

    python scripts/calibrate.py --scenario hard-neutral --replicates 20 --models 20000 [--null 200]
                                [--seed 1] [--json out.json]

Simulates R ecosystems of scenario S, runs the report's claims on each and prints per claim
the share called supported: the false-positive rate of the claims the scenario does not
plant (goal: at most 0.08), the power for those it plants (goal: at least 0.8).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phylohf.report.calibration import calibrate, report  # noqa: E402
from phylohf.report.full import Settings  # noqa: E402
from phylohf.sources.simulate import SCENARIOS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=SCENARIOS, default="hard-neutral", help="simulator scenario")
    p.add_argument("--replicates", type=int, default=20, help="ecosystems simulated (default 20)")
    p.add_argument("--models", type=int, default=20_000, help="models per ecosystem (default 20000)")
    p.add_argument("--null", type=int, default=200, help="null-engine replicates per claim (default 200)")
    p.add_argument("--bootstrap", type=int, default=200, help="cluster-bootstrap replicates (default 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first ecosystem (default 1)")
    p.add_argument("--json", help="also write the table as JSON here")
    args = p.parse_args()
    result = calibrate(args.scenario, args.models, args.replicates, args.seed,
                       Settings(seed=args.seed, bootstrap=args.bootstrap, null=args.null),
                       progress=sys.stderr.isatty())
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
