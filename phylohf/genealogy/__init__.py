"""Lineage, families, trait genomes, branch lengths: the trees built from the store."""
