"""The ground truth of a simulation and the claims it plants."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pyarrow as pa

from ..scenarios import DESCRIPTIONS as _DESCRIPTIONS
from .dirt import _Dirt
from .params import SimParams
from .topology import _Topology
from .vocabulary import RELATIONS, _NEUTRAL

_INHERITED = ("language", "license", "task")  # kinship groups passed down lineages in every scenario
# Not planted: card_drift:template (a child's template follows its relation type, not its parent's card:
# more templates among children, but no direction along edges beyond what symmetric exchange of an
# unheritable marker makes).
_DIRECTIONAL = ("card_drift:dropped", "card_drift:shorter", "language_drift:fewer_languages",
                "language_drift:multilingual_to_english", "license_drift:restrictive_to_open",
                "license_ordering", "license_class_ordering", "ard_vs_gtr:license")


def planted(scenario: str) -> list[str]:
    """Ids of the report's claims that are true effects in ``scenario`` (sorted): family resemblance
    of the inherited groups everywhere (cards too in the neutral scenarios, where they are inherited
    chains); in the directional scenario also the sibling excess and shared change of the groups
    with a shared component, the drifts, the orderings, non-reversible license evolution and
    the card drifts it plants (children's cards are rarer and shorter)."""
    claims = [f"family_resemblance:{g}" for g in _INHERITED]
    if scenario != "directional":
        claims.append("family_resemblance:card")
    else:
        claims += [f"{c}:{g}" for c in ("shared_change", "sibling_excess") for g in _INHERITED] + list(_DIRECTIONAL)
    return sorted(claims)


def _truth(seed, scenario: str, n_models: int, prm: SimParams, topo: _Topology, states: dict, dirt: _Dirt,
           ids: pa.Array, mutation: dict, editor: np.ndarray) -> dict:
    """The JSON-serialisable ground truth (see ``simulate``)."""
    parents = {}
    rel = topo.relation[topo.edge_child]
    for c, p, r in zip(ids.take(topo.edge_child).to_pylist(), ids.take(topo.edge_parent).to_pylist(),
                       [RELATIONS[r] for r in rel.tolist()]):
        parents.setdefault(c, []).append([p, r])
    labels = {"license": mutation["license"]["states"], "languages": mutation["language"]["states"],
              "pipeline_tag": mutation["task"]["states"]}
    values = {"license": states["license"], "languages": states["language"], "pipeline_tag": states["task"]}
    hidden = {}
    for key, mask in dirt.hidden.items():
        rows = np.flatnonzero(mask & dirt.keep)
        for model, state in zip(ids.take(rows).to_pylist(), values[key][rows].tolist()):
            hidden.setdefault(model, {})[key] = labels[key][state]
    truth = {
        "seed": seed, "scenario": scenario, "n_models": n_models, "params": asdict(prm),
        "parents": parents, "deleted": ids.take(np.flatnonzero(~dirt.keep)).to_pylist(), "hidden": hidden,
        "mutation": mutation,
        "sibling_shared_rate": prm.sibling_shared_rate if scenario == "directional" else 0.0,
        "planted": planted(scenario), "scenario_description": _DESCRIPTIONS[scenario],
    }
    if "heterogeneous" in _NEUTRAL.get(scenario, ()):
        primary = np.bincount(topo.parent[topo.parent >= 0], minlength=editor.size) > 0
        truth["editors"] = ids.take(np.flatnonzero(editor & primary)).to_pylist()
    return truth
