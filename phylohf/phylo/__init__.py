"""Phylogenetic methods on lineage forests: Mk rate models (:mod:`.mk`), ancestral states (:mod:`.asr`)."""
