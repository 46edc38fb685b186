"""The package reads as the pipeline: data in -> store -> genealogy -> phylogenetic methods
-> analyses -> export -> report -> the API and the command line, and a module imports only
from its own stage or an earlier one (checked on the source, lazy imports included)."""
import ast
from pathlib import Path

import phylohf

STAGES = ["sources", "store", "genealogy", "phylo", "analyses", "export", "report"]
BASE = {"__init__", "result", "text"}                       # what every stage may use
TOP = {"api", "cli", "options", "exits", "__main__"}
ROOT = Path(phylohf.__file__).parent


def _stage(module: str) -> int:
    """Rank of a dotted module below phylohf: -1 base, then the stages, then the top."""
    head = module.split(".")[0] if module else "__init__"
    if head in BASE:
        return -1
    if head in TOP:
        return len(STAGES)
    return STAGES.index(head)


def _imports(path: Path):
    """(imported module below phylohf, line) of every import of the package in ``path``."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = rel[:-1] if rel[-1] != "__init__" else rel[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package)[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("phylohf"):
                target = node.module[len("phylohf."):] if node.module != "phylohf" else ""
            else:
                continue
            names = [a.name for a in node.names]
            if target == "":                        # from phylohf import x / from . import x
                for name in names:                  # a module, a package or a name of __init__
                    module = (ROOT / f"{name}.py").exists() or (ROOT / name / "__init__.py").exists()
                    yield name if module else "", node.lineno
            else:
                yield target, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("phylohf."):
                    yield a.name[len("phylohf."):], node.lineno


def test_top_level_holds_only_the_entry_points():
    top = {p.stem for p in ROOT.glob("*.py")}
    assert top <= BASE | TOP, sorted(top - BASE - TOP)
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(STAGES), folders


def test_imports_only_go_forward():
    backward = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = len(STAGES) if module == "__init__" else _stage(module)     # the front door: phylohf.open
        for target, line in _imports(path):
            if _stage(target) > own:
                backward.append(f"{module}:{line} imports {target}")
    assert not backward, "\n".join(backward)
