"""Parameters of the simulator and the shape of its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class TraitRates:
    """Per-generation change rates of one trait group.

    ``individual`` and ``shared`` scale the off-diagonal P[i, j] = rate * pi_j * C_ij * G_ij
    (so a state changes with probability about rate * (1 - pi_i)): ``individual`` for a
    child's own change, ``shared`` for the change a parent passes to the children that
    adopt it (directional scenario; the neutral ones change as often as its marginal).
    ``drop``: probability per generation that a declared value becomes undeclared (the
    reverse switch balances it at the base undeclared share).
    """

    individual: float
    shared: float = 0.0
    drop: float = 0.0


@dataclass(frozen=True)
class SimParams:
    """Every tunable of the simulator; the defaults reproduce the Hub snapshot of the paper."""

    # topology
    root_rate: float = 0.715                 # P(model is a new base model)
    uniform_parent: float = 0.4              # copy trick: P(parent uniform among earlier models)
    relation_probs: tuple = (0.35, 0.29, 0.29, 0.07)  # finetune, adapter, quantized, merge
    merge_parent_probs: tuple = (0.6, 0.25, 0.15)     # a merge has 2, 3, 4 parents
    merge_same_family: float = 0.5           # extra merge parent drawn from the same family
    # traits
    sibling_shared_rate: float = 0.85        # P(child adopts its parent's shared change)
    directional_bias: float = 2.5            # G for favoured changes (1/G back)
    copier_share: float = 0.6                # heterogeneous: P(a parent is a copier, else an editor)
    copier_rate: float = 0.02                # ... change probability per generation of a copier's children
    editor_rate: float = 0.5                 # ... of an editor's children
    relation_rate_scale: tuple = (1.0, 0.5, 0.05, 3.0)  # relations: rate factor of finetune, adapter,
    #                                          quantized, merge edges (capped so that rows stay stochastic)
    license: TraitRates = TraitRates(0.04, 0.155, 0.1)
    language: TraitRates = TraitRates(0.05, 0.18, 0.12)
    task: TraitRates = TraitRates(0.2, 0.95)
    architecture: TraitRates = TraitRates(0.01)
    dataset: TraitRates = TraitRates(0.4, 0.4, 0.3)
    license_undeclared: float = 0.52         # base share of models declaring no license
    language_undeclared: float = 0.83        # ... no language (text and speech families)
    language_undeclared_other: float = 0.97  # ... no language (vision, diffusion, rl)
    dataset_undeclared: float = 0.8          # ... no dataset
    # dirt
    hide_license: float = 0.03               # declared license removed from tags and cardData
    hide_language: float = 0.03
    hide_task: float = 0.08                  # pipeline_tag removed
    deleted_rate: float = 0.01               # models deleted (as a share of the listing)
    url_parent_rate: float = 0.02            # cardData base_model written as a URL
    space_parent_rate: float = 0.01          # ... padded with whitespace
    self_ref_rate: float = 0.002             # models declaring themselves as parent
    cycle_rate: float = 0.0005               # models declaring one of their children as parent
    # emission
    card_rate_root: float = 0.34             # P(model card text) for roots
    card_rate_child: float = 0.24            # ... for children
    card_flip: float = 0.1                   # neutral scenarios: P(child flips card presence, kind; steps length)
    relation_in_card: float = 0.35           # P(cardData states base_model_relation)
    free_tag_vocabulary: float = 0.2         # distinct long-tail free tags per model (real: 445 / 2,000)
    free_tag_zipf: float = 1.1               # their popularity: P(rank r) ~ r^-zipf
    free_tags_new: float = 0.3               # mean tags a model picks by popularity (Poisson)
    free_tag_inherit: float = 0.6            # P(child keeps each of its parent's free tags)
    authors_per_model: float = 0.25          # synthetic user handles per model
    n_words: int = 3000                      # vocabulary of model-name words
    start: str = "2019-01-01"
    end: str = "2025-07-01"
    growth: float = 5.0                      # exponential growth of the Hub over [start, end]

    def __post_init__(self):
        for name, size in (("relation_probs", 4), ("merge_parent_probs", 3)):
            p = np.asarray(getattr(self, name), float)
            if p.size != size or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
                raise ValueError(f"SimParams.{name} must be {size} non-negative probabilities summing to 1")
        scale = np.asarray(self.relation_rate_scale, float)
        if scale.shape != (4,) or not (np.isfinite(scale) & (scale >= 0)).all():
            raise ValueError("SimParams.relation_rate_scale must be 4 non-negative numbers (finetune, adapter, "
                             f"quantized, merge), got {self.relation_rate_scale}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, TraitRates) and min(asdict(value).values()) < 0:
                raise ValueError(f"SimParams.{f.name} rates must be non-negative, got {value}")
            if f.type == "float" and f.name not in ("directional_bias", "growth", "free_tag_zipf") \
                    and not 0 <= value <= 1:
                raise ValueError(f"SimParams.{f.name} must lie in [0, 1], got {value}")
        if self.directional_bias < 1 or self.growth <= 0 or self.n_words < 1 or self.free_tag_zipf < 0:
            raise ValueError("SimParams needs directional_bias >= 1, growth > 0, n_words >= 1 and "
                             "free_tag_zipf >= 0")


@dataclass
class Simulation:
    """A simulated snapshot: the listing table and its JSON-serialisable ground truth."""

    listing: pa.Table
    truth: dict = field(repr=False)
