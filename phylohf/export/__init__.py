"""Tree export: Newick / NHX writing and reading over :class:`phylohf.genealogy.lineage.Lineage` arrays."""
from .newick import ParsedTree, read_newick, read_newick_trees, write_forest, write_newick

__all__ = ["ParsedTree", "read_newick", "read_newick_trees", "write_forest", "write_newick"]
