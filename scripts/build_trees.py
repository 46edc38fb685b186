"""Build the family trees of a store and write them into trees/ (the `phylohf trees` command).

    python scripts/build_trees.py --store eco.duckdb [--out trees/] [--format newick,nhx] ...

Every option of `phylohf trees --help` is accepted.
"""
import sys

from phylohf.cli import main

if __name__ == "__main__":
    sys.exit(main(["trees", *sys.argv[1:]]))
