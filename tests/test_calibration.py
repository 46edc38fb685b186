"""The calibration harness, small and with fixed seeds (the full table comes from
scripts/calibrate.py): on the hardest neutral scenario the report supports no claim the
scenario does not plant, and it recovers what every scenario plants (family resemblance)."""
from phylohf.report.calibration import FALSE_POSITIVE_GOAL, calibrate, report
from phylohf.report.full import Settings


def test_hard_neutral_supports_nothing_false_and_finds_what_is_planted():
    # bootstrap 300: the family-bootstrap p floor 1/301 leaves q < 0.05 within reach across ~22 claims
    result = calibrate("hard-neutral", 5000, 3, seed=11, settings=Settings(seed=11, bootstrap=300, null=59))
    claims = result["claims"]
    assert {"license_drift:restrictive_to_open", "license_class_ordering", "shared_change:license",
            "sibling_excess:task", "card_drift:dropped", "ard_vs_gtr:license"} <= set(claims)
    false = {cid: t for cid, t in claims.items() if not t["planted"]}
    assert all(t["runs"] == 3 for t in claims.values())
    assert sum(t["supported"] for t in false.values()) == 0, {c: t for c, t in false.items() if t["supported"]}
    assert claims["family_resemblance:license"]["share"] == 1.0
    text = report(result)
    assert "hard-neutral" in text and "false (false-positive rate)" in text and "planted (power)" in text
    assert FALSE_POSITIVE_GOAL == 0.08
