"""The documentation: the site builds with warnings as errors, and the tutorial runs as
written, block by block, on a small simulated ecosystem."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from phylohf.cli import main

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
SAYS, MODELS = "--models 50000", 3000        # the tutorial's ecosystem, and the one this test runs it on


def blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of ``markdown`` as (language, code), in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", markdown, re.M | re.S)


def run_tutorial(models: int = MODELS) -> dict:
    """Run the tutorial's ``sh`` commands (through :func:`phylohf.cli.main`, ``models`` models)
    and ``python`` blocks in order, in the working directory; returns the blocks' namespace."""
    markdown = TUTORIAL.read_text(encoding="utf-8")
    assert markdown.count(SAYS) == 1, f"the tutorial simulates its ecosystem once, with {SAYS}"
    namespace = {"__name__": "tutorial"}
    for i, (language, code) in enumerate(blocks(markdown.replace(SAYS, f"--models {models}"))):
        if language == "sh":
            for line in code.splitlines():
                argv = shlex.split(line, comments=True)
                assert argv[0] == "phylohf", line
                assert main(["-q", *argv[1:]]) == 0, line
        elif language == "python":
            exec(compile(code, f"{TUTORIAL.name}, block {i + 1}", "exec"), namespace)
    return namespace


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (pip install -e '.[test]')")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr
    for page in ("index.html", "tutorial/index.html", "cli/index.html", "reference/api/index.html",
                 "reference/results/index.html"):
        assert (tmp_path / "site" / page).stat().st_size > 1000, page
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "Ecosystem" in api and "audit_licenses" in api and "to_biopython" in api
    assert 'href="../results/#phylohf.phylo.reconstruct.AncestralStates"' in api      # a docstring's :class: role
    assert ":class:" not in api and ":func:" not in api


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = run_tutorial()
    out = capsys.readouterr().out
    assert f"{MODELS:,} models stored" in out and ns["models"].num_rows == MODELS
    assert f"{ns['fam']} Newick:" in out and ns["leaf"] in ns["newick"]
    assert len(ns["nodes"]) == len(ns["dendro"].nodes()) == ns["families"].column("size")[0].as_py()
    assert "== Ancestral states of license (all families) ==" in out and "Mk model GTR" in out
    assert ns["d"] == ns["r"].to_dict() and len(ns["frame"]) == len(ns["d"]["nodes"])
    assert (tmp_path / "fam.png").stat().st_size > 1000
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sections"] == [title for title, _ in ns["report"].sections]
    assert (tmp_path / "report.txt").read_text().startswith("phylohf report\n")
