"""Trait groups and their evolution down the trees (directional and neutral scenarios)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import _draw
from .params import SimParams, TraitRates
from .topology import _Topology
from .vocabulary import (ADAPTER, ARCHITECTURES, DATASETS, FAMILIES, LANGUAGE_SETS, LICENSES, QUANTIZED, RELATIONS,
                         TASKS, TASK_MIX, _ARCH_FAMILY, _ARCH_LIBRARY, _FAMILY_MODALITY, _LIB, _NEUTRAL, _SPOKEN)


@dataclass(frozen=True)
class _Trait:
    name: str
    labels: list            # JSON labels of the states; state 0 is "undeclared" when has_none
    root_p: np.ndarray      # (contexts, K) root distribution per context (family or single)
    compat: np.ndarray      # (K, K) symmetric 0/1: changes allowed
    toward: np.ndarray      # (K, K) bool: favoured changes in the directional scenario
    has_none: bool
    founder: np.ndarray | None = None  # (K,) bool: the states every root declares in the founder scenarios


def _family_weights() -> np.ndarray:
    w = np.bincount(_ARCH_FAMILY, [a[4] for a in ARCHITECTURES], len(FAMILIES))
    return w / w.sum()


def _with_none(declared: np.ndarray, none_share) -> np.ndarray:
    """Prepend an undeclared column: rows of ``declared`` weights scaled to ``1 - none_share``."""
    declared = declared / declared.sum(axis=-1, keepdims=True)
    none_share = np.broadcast_to(np.asarray(none_share, float).reshape(-1, 1), (len(declared), 1))
    return np.hstack([none_share, (1 - none_share) * declared])


def _architecture_trait(prm: SimParams) -> _Trait:
    fam = _ARCH_FAMILY
    return _Trait("architecture", [a[0] for a in ARCHITECTURES], np.array([[a[4] for a in ARCHITECTURES]]),
                  (fam[:, None] == fam[None, :]).astype(float), np.zeros((fam.size,) * 2, bool), False)


def _task_trait(prm: SimParams) -> _Trait:
    """Roots draw from their family's task mix; tasks that share a family may replace each other."""
    mix = np.array([[TASK_MIX[f].get(t, 0.0) for t in TASKS] for f in FAMILIES])
    support = (mix > 0).astype(float)
    return _Trait("task", list(TASKS), mix, np.minimum(support.T @ support, 1),
                  np.zeros((len(TASKS),) * 2, bool), False)


def _license_trait(prm: SimParams) -> _Trait:
    """Favoured: restrictive/commercial -> permissive or copyleft."""
    klass = np.array(["none"] + [c for _, c, _ in LICENSES])
    favoured = (klass == "permissive") | (klass == "copyleft")
    return _Trait("license", [None] + [name for name, _, _ in LICENSES],
                  _with_none(np.array([[w for _, _, w in LICENSES]]), prm.license_undeclared),
                  np.ones((klass.size,) * 2), (klass == "restrictive")[:, None] & favoured[None, :], True,
                  klass == "restrictive")


def _language_trait(prm: SimParams) -> _Trait:
    """Favoured: multilingual (or several languages) -> English only."""
    sets = [codes for codes, _ in LANGUAGE_SETS]
    multi = np.array([False] + [len(c) > 1 or "multilingual" in c for c in sets])
    english = np.array([False] + [c == ("en",) for c in sets])
    none_share = np.where(_SPOKEN, prm.language_undeclared, prm.language_undeclared_other)
    weights = np.tile([w for _, w in LANGUAGE_SETS], (len(FAMILIES), 1))
    return _Trait("language", [[]] + [list(c) for c in sets], _with_none(weights, none_share),
                  np.ones((multi.size,) * 2), multi[:, None] & english[None, :], True, multi)


def _dataset_trait(prm: SimParams) -> _Trait:
    """Datasets of the family's modality; a dataset is replaced only by one of the same modality."""
    modality = np.array([m for _, m, _ in DATASETS])
    weights = np.array([w for _, _, w in DATASETS]) * (np.array(_FAMILY_MODALITY)[:, None] == modality)
    has_data = weights.sum(1) > 0
    root = np.zeros((len(FAMILIES), modality.size + 1))
    root[~has_data, 0] = 1
    root[has_data] = _with_none(weights[has_data], prm.dataset_undeclared)
    compat = np.ones((modality.size + 1,) * 2)
    compat[1:, 1:] = modality[:, None] == modality[None, :]
    return _Trait("dataset", [None] + [d for d, _, _ in DATASETS], root, compat, np.zeros_like(compat, bool), True)


_TRAITS = (_architecture_trait, _task_trait, _license_trait, _language_trait, _dataset_trait)


def _base_distribution(trait: _Trait) -> np.ndarray:
    return trait.root_p[0] if len(trait.root_p) == 1 else _family_weights() @ (
        trait.root_p / trait.root_p.sum(1, keepdims=True))


def _transition(trait: _Trait, rate: float, drop: float, bias: float) -> np.ndarray:
    """Per-generation transition matrix (see the module docstring)."""
    pi = _base_distribution(trait)
    d = 1 if trait.has_none else 0
    pd = pi[d:] / pi[d:].sum()
    g = bias ** (trait.toward.astype(float) - trait.toward.T)
    r = np.zeros((pi.size, pi.size))
    r[d:, d:] = rate * pd[None, :] * (trait.compat * g)[d:, d:]
    if trait.has_none:
        r[1:, 0] = drop
        r[0, 1:] = drop * (1 - pi[0]) / pi[0] * pd
    np.fill_diagonal(r, 0)
    if r.sum(1).max() > 1:
        raise ValueError(f"{trait.name} rates too high: a row of the transition matrix exceeds 1")
    np.fill_diagonal(r, 1 - r.sum(1))
    return r


def _mutation(trait: _Trait, rates: TraitRates, scenario: str, prm: SimParams) -> dict:
    s = prm.sibling_shared_rate
    if scenario == "neutral":
        return {"P": _transition(trait, s * rates.shared + (1 - s) * rates.individual, rates.drop, 1.0)}
    ind = _transition(trait, rates.individual, rates.drop, prm.directional_bias)
    shared = _transition(trait, rates.shared, rates.drop, prm.directional_bias)
    return {"P": s * shared + (1 - s) * ind, "P_individual": ind, "P_shared": shared}


def _symmetric(trait: _Trait, change: float) -> np.ndarray:
    """Symmetric per-generation matrix of the declared values: off the diagonal P[i, j] = c C_ij, with
    one c per call such that a value drawn from the base distribution changes with probability
    ``change`` (capped where a row would exceed 1). The undeclared state, if any, keeps the identity's
    row and column: whether a model declares is a chain of its own (see :func:`_evolve_neutral`)."""
    d = int(trait.has_none)
    pd = _base_distribution(trait)[d:]
    c = trait.compat[d:, d:].copy()
    np.fill_diagonal(c, 0)
    degree = c.sum(1)
    scale = min(change / (pd @ degree / pd.sum()), 1 / max(degree.max(), 1))
    p = np.eye(len(trait.labels))
    p[d:, d:] = scale * c + np.diag(1 - scale * degree)
    return p


def _neutral_mutation(trait: _Trait, rates: TraitRates, extras: tuple, prm: SimParams) -> dict:
    """Matrices of the neutral scenarios, one per (parent class, relation) case, and the declare switches.

    The change probability is the old neutral (F81) chain's at the base distribution, or the copier's
    and editor's (heterogeneous), times the relation's factor (relations)."""
    s = prm.sibling_shared_rate
    f81 = _transition(trait, s * rates.shared + (1 - s) * rates.individual, rates.drop, 1.0)
    d = int(trait.has_none)
    pd = _base_distribution(trait)[d:]
    change = 1 - np.diag(f81)[d:] - (f81[d:, 0] if d else 0)
    classes, base = ("any",), [pd @ change / pd.sum()]
    if "heterogeneous" in extras:
        classes, base = ("copier", "editor"), [prm.copier_rate, prm.editor_rate]
    relations = RELATIONS if "relations" in extras else ("any",)
    scale = prm.relation_rate_scale if "relations" in extras else (1.0,)
    out = {"P_by": {f"{c}/{r}": _symmetric(trait, b * f)
                    for c, b in zip(classes, base) for r, f in zip(relations, scale)}}
    if len(out["P_by"]) == 1:
        out = {"P": out["P_by"].popitem()[1]}
    if trait.has_none:
        undeclared = _base_distribution(trait)[0]
        out["declared"] = {"drop": rates.drop, "redeclare": float(rates.drop * (1 - undeclared) / undeclared)}
    return out


def _evolve_neutral(rng, trait: _Trait, mats: dict, case: np.ndarray, topo: _Topology, context: np.ndarray,
                    founder: bool) -> np.ndarray:
    """Roots draw a value from the base distribution of declared values (founder: of the founder
    states only, all declared), and whether they declare it from the base undeclared share; children
    mutate the value with the matrix of their ``case`` (parent class, relation) and inherit the
    declared flag, switching at the ``declared`` rates. A model that re-declares shows its value."""
    d = int(trait.has_none)
    founder = founder and trait.founder is not None
    stack = np.stack(list(mats["P_by"].values())) if "P_by" in mats else mats["P"][None]
    k = stack.shape[1]
    value = np.empty(topo.parent.size, np.int64)
    roots = topo.levels[0]
    rows = context[roots] if len(trait.root_p) > 1 else np.zeros(roots.size, np.int64)
    declared_p = trait.root_p[:, d:] * (trait.founder[d:] if founder else 1)
    empty = declared_p.sum(1) == 0                                       # no declared value in this context
    declared_p[empty] = _base_distribution(trait)[d:]
    value[roots] = d + _draw(declared_p, rows, rng.random(roots.size))
    shown = np.ones(topo.parent.size, bool)
    if d and not founder:
        shown[roots] = rng.random(roots.size) >= (trait.root_p[:, 0] / trait.root_p.sum(1))[rows]
    for nodes in topo.levels[1:]:
        par = topo.parent[nodes]
        value[nodes] = _draw(stack.reshape(-1, k), case[nodes] * k + value[par], rng.random(nodes.size))
        if d:
            u = rng.random(nodes.size)
            shown[nodes] = np.where(shown[par], u >= mats["declared"]["drop"], u < mats["declared"]["redeclare"])
    return np.where(shown, value, 0)


def _evolve(rng, trait: _Trait, mats: dict, topo: _Topology, context: np.ndarray, s: float) -> np.ndarray:
    """Draw roots from their base distribution, then mutate level by level."""
    state = np.empty(topo.parent.size, np.int64)
    roots = topo.levels[0]
    rows = context[roots] if len(trait.root_p) > 1 else np.zeros(roots.size, np.int64)
    state[roots] = _draw(trait.root_p, rows, rng.random(roots.size))
    shared_u = rng.random(topo.parent.size) if "P_shared" in mats else None
    for nodes in topo.levels[1:]:
        pa_ = topo.parent[nodes]
        x = state[pa_]
        y = _draw(mats.get("P_individual", mats["P"]), x, rng.random(nodes.size))
        if shared_u is not None:  # the parent's one shared change, adopted by some children
            y = np.where(rng.random(nodes.size) < s, _draw(mats["P_shared"], x, shared_u[pa_]), y)
        state[nodes] = y
    return state


def _listed(tree):
    """Arrays of a (nested) dict as lists, for JSON."""
    return {k: _listed(v) if isinstance(v, dict) else v.tolist() if isinstance(v, np.ndarray) else v
            for k, v in tree.items()}


def _library(rng, arch: np.ndarray, task: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Library code (-1 = none) from architecture, task and relation."""
    u = rng.random(arch.size)
    lib = _ARCH_LIBRARY[arch].copy()
    family = _ARCH_FAMILY[arch]
    embeds = np.isin(task, [TASKS.index("feature-extraction"), TASKS.index("sentence-similarity")])
    lib[(family == FAMILIES.index("encoder")) & embeds & (u < 0.7)] = _LIB["sentence-transformers"]
    lib[(rel == ADAPTER) & (family != FAMILIES.index("diffusion"))] = _LIB["peft"]
    quant = (rel == QUANTIZED) & (u < 0.8)
    lib[quant] = np.where(u[quant] < 0.7, _LIB["gguf"], _LIB["mlx"])
    lib[(rel != ADAPTER) & (rel != QUANTIZED) & (rng.random(arch.size) < 0.03)] = -1
    return lib


def _cases(topo: _Topology, extras: tuple, editor: np.ndarray) -> np.ndarray:
    """Case of the edge above every node in the neutral scenarios: parent class (copier 0, editor 1;
    heterogeneous) x relation type (relations), in the order of ``_neutral_mutation``'s ``P_by``."""
    klass = (editor[np.maximum(topo.parent, 0)] & ("heterogeneous" in extras)).astype(np.int64)
    if "relations" not in extras:
        return klass
    return klass * len(RELATIONS) + np.maximum(topo.relation, 0)


def _traits(rng, topo: _Topology, scenario: str, prm: SimParams, editor: np.ndarray) -> tuple[dict, dict]:
    """State codes of every trait group (plus the derived library) and the matrices that drew them;
    ``editor``: the parent class of every model (heterogeneous scenarios, else all False)."""
    states, mutation = {}, {}
    context = None  # the roots' architecture family, once drawn
    extras = _NEUTRAL.get(scenario)
    case = None if extras is None else _cases(topo, extras, editor)
    for trait in (build(prm) for build in _TRAITS):
        rates = getattr(prm, trait.name)
        if extras is None:
            mats = _mutation(trait, rates, scenario, prm)
            states[trait.name] = _evolve(rng, trait, mats, topo, context, prm.sibling_shared_rate)
        else:
            mats = _neutral_mutation(trait, rates, extras, prm)
            states[trait.name] = _evolve_neutral(rng, trait, mats, case, topo, context, "founder" in extras)
        mutation[trait.name] = {"states": trait.labels, **_listed(mats)}
        if trait.name == "architecture":
            context = _ARCH_FAMILY[states["architecture"]]
    states["library"] = _library(rng, states["architecture"], states["task"], topo.relation)
    return states, mutation
