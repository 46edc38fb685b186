"""Simulated Hugging Face ecosystem: the default data source and its ground truth.

``simulate(n)`` returns a listing shaped like ``GET /api/models?full=true&cardData=true``
(camelCase, one row per model) and a JSON-serialisable ``truth``. Every step is a
vectorised numpy/pyarrow operation; Python loops run only over depth levels, trait
groups and small vocabularies.

Generative model
----------------
Time. Models are indexed in creation order; ``createdAt`` increases strictly with the
index along an exponential growth curve (2019 -> mid 2025), so a parent (always an
earlier index) is older than its children and dates increase down lineages.

Topology. Model 0, and each later model with probability ``root_rate``, is a root (a
base model). Any other model picks a primary parent by preferential attachment,
P(j) ~ children_j + a, with the Simon/Yule copy trick: with probability
``uniform_parent`` a uniformly drawn earlier model, else the parent of a uniformly
drawn earlier child; copy chains are resolved by pointer jumping. Each child gets a
relation (finetune, adapter, quantized, merge); a merge has 2-4 parents, the extra
ones drawn from earlier members of its family (``merge_same_family``) or anywhere by
the same attachment rule. Families are the trees of primary parents.

Traits. Five categorical trait groups: architecture, task (pipeline_tag), license,
language set and dataset; the last three have an undeclared state (None or []).
Roots draw from base distributions (task, languages and dataset conditioned on the
architecture family); children inherit from the primary parent through
per-generation transition matrices, one vectorised step per depth level.

* ``directional``: off the diagonal P[i, j] = rate * pi_j * C_ij * G_ij (F81-like: pi
  the base distribution of declared states, C a symmetric compatibility mask), plus
  declared <-> undeclared switches balanced at the base undeclared share (undeclared is
  a state of the chain). G_ij = bias for favoured changes (restrictive/commercial
  license -> permissive or copyleft; multilingual -> English only) and 1/bias back, and
  each parent draws one change from ``P_shared`` that each child adopts with
  probability ``sibling_shared_rate`` (else it draws its own from ``P_individual``), so
  siblings are closer to each other than to their parent. Children's cards are rarer,
  shorter and more templated than roots', and their template follows the relation.
* the neutral scenarios plant none of that. Mutation is symmetric: P[i, j] = c C_ij, one
  c per trait and case, set so that a value changes about as often as in the directional
  marginal ``s P_shared + (1-s) P_individual`` (no stationary frequencies, which would
  themselves be a drift from founders that sit elsewhere). The value evolves on every
  node; whether a node declares it is an inherited declared/undeclared chain of its own
  (the same drop and re-declare rates), so missingness does not depend on the value.
  Cards evolve as three symmetric characters of their own: presence, kind (free text or the
  Hub template) and a length class (2^L sentences), each child flipping presence and kind
  with probability ``card_flip`` and stepping L up or down by one with ``card_flip`` / 2
  each (clipped): nothing depends on root, relation or direction. ``neutral`` has nothing
  more; ``founder``:
  every root declares a restrictive license and a multilingual language set;
  ``heterogeneous``: each parent is a copier (``copier_share``) whose children change
  with probability ``copier_rate`` per trait, or an editor (``editor_rate``);
  ``relations``: rates times ``relation_rate_scale`` by the relation of the edge;
  ``hard-neutral``: the three together.

The library follows architecture, task and relation (adapter -> peft,
quantized -> gguf/mlx); free-form tags, card text, downloads and likes follow the
model's context.

Dirt. Declared licenses, languages and tasks are hidden at small rates (removed from
tags and cardData; ``truth["hidden"]`` keeps them); some parents are deleted from the
listing (the listing keeps exactly ``n_models`` rows, children still reference them);
cardData parent ids sometimes come as URLs or padded with spaces; a few models
declare themselves or one of their children as a parent (self references, cycles).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..scenarios import SCENARIOS
from .dirt import _dirt
from .identity import _identity
from .listing import CARD_LENGTHS, _free_tags, _listing
from .params import SimParams, Simulation, TraitRates
from .topology import _topology
from .traits import _traits
from .truth import _truth, planted
from .vocabulary import (ADAPTER, ARCHITECTURES, DATASETS, FAMILIES, FINETUNE, LANGUAGE_SETS, LIBRARIES, LICENSES,
                         MERGE, QUANTIZED, RELATIONS, TASK_MIX, TASKS, _NEUTRAL)
from .write import write_listing, write_truth

__all__ = ["ADAPTER", "ARCHITECTURES", "CARD_LENGTHS", "DATASETS", "FAMILIES", "FINETUNE", "LANGUAGE_SETS", "LIBRARIES",
           "LICENSES", "MERGE", "QUANTIZED", "RELATIONS", "SCENARIOS", "SimParams", "Simulation", "TASK_MIX", "TASKS",
           "TraitRates", "planted", "simulate", "write_listing", "write_truth"]


def simulate(n_models: int, seed: int = 0, scenario: str = "directional", params: SimParams | None = None,
             progress: bool = False) -> Simulation:
    """Simulate an ecosystem of ``n_models`` listed models (see the module docstring).

    ``listing`` is the API-shaped table. ``truth`` holds ``seed``, ``scenario``, ``n_models``,
    ``params``; ``parents`` (child id -> [[parent id, relation], ...], true parents before
    corruption); ``deleted`` (ids removed from the listing); ``hidden`` (id -> true values of
    its hidden ``license`` / ``languages`` / ``pipeline_tag``); ``mutation`` (per trait group:
    ``states`` and the per-generation matrix ``P``, plus ``P_individual`` and ``P_shared`` in
    the directional scenario, P = s P_shared + (1 - s) P_individual; in the neutral scenarios
    ``P`` is symmetric, or ``P_by`` holds one per case ``"<parent class>/<relation>"`` (class
    copier or editor, else ``any``), and ``declared`` the ``drop`` and ``redeclare``
    probabilities of the declared chain); ``sibling_shared_rate`` (s, 0 in the neutral
    scenarios); ``planted`` (the claim ids of the report that are true effects, see
    :func:`planted`), ``scenario_description`` and, in the heterogeneous scenarios, ``editors``
    (the primary parents that are editors; the others copy). Raises ``ValueError`` on bad input.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {SCENARIOS}")
    if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 1:
        raise ValueError(f"n_models must be a positive integer, got {n_models!r}")
    if params is not None and not isinstance(params, SimParams):
        raise ValueError(f"params must be a SimParams, got {type(params).__name__}")
    prm = params or SimParams()
    # one stream per stage: a seed gives the same trees, names and dirt in every scenario
    rng = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    n_deleted = int(round(prm.deleted_rate * n_models))
    with tqdm(total=5, desc="simulate", disable=not progress) as bar:
        topo = _topology(rng[0], int(n_models) + n_deleted, prm)
        bar.update()
        editor = np.zeros(topo.parent.size, bool)                   # parent classes (heterogeneous)
        if "heterogeneous" in _NEUTRAL.get(scenario, ()):
            editor = rng[6].random(editor.size) >= prm.copier_share
        states, mutation = _traits(rng[1], topo, scenario, prm, editor)
        bar.update()
        dirt = _dirt(rng[2], topo, states, prm, n_deleted)
        ids, names, authors = _identity(rng[3], topo, states, prm)
        bar.update()
        listing = _listing(rng[4], topo, states, dirt, ids, names, authors, prm, _free_tags(rng[5], topo, prm),
                           scenario in _NEUTRAL)
        bar.update()
        truth = _truth(seed, scenario, int(n_models), prm, topo, states, dirt, ids, mutation, editor)
        bar.update()
    return Simulation(listing, truth)
