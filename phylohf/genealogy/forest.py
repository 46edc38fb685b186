"""The lineage forest of a store, with its families and trait genomes, loaded together."""
from __future__ import annotations


def load(store, with_genome: bool = False):
    """Lineage, families and (optionally) genomes of a store."""
    from .families import families
    from .genome import build
    from .lineage import Lineage
    lineage = Lineage.from_store(store)
    genome = build(store, lineage.n) if with_genome else None
    return lineage, families(lineage), genome
