"""Exit codes hold: interrupts exit 130, failures 1 with one line and no traceback, bad
values 2, and nothing is created or computed before an input or output is known good."""
import errno
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import duckdb
import pytest

from forests import simulated_store
from phylohf.cli import main
from phylohf.store.database import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return simulated_store(tmp_path_factory.mktemp("codes"), 800, seed=4)


def one_line(capsys) -> str:
    """The stderr of the command: exactly one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


# -- interrupts -------------------------------------------------------------------------------
def test_ctrl_c_inside_a_duckdb_statement_exits_130(tmp_path, monkeypatch, capsys):
    """DuckDB turns the signal into RuntimeError('Query interrupted'), and its aborted
    transaction into TransactionException: both are the interrupt, exit 130. (A statement on
    several threads can miss Ctrl-C while its main thread waits for the others, about one run
    in five here: the statement runs on one thread, and Ctrl-C is repeated until one lands, as
    a user would; repeats after the command ended go to a handler that ignores them.)"""
    import phylohf.sources.normalize as normalize
    real = normalize.normalize_into
    done = threading.Event()

    def ctrl_c():
        while not done.wait(0.3):
            os.kill(os.getpid(), signal.SIGINT)

    def slow(con, raw, table):
        threading.Thread(target=ctrl_c, daemon=True).start()     # Ctrl-C while the statement runs
        con.execute("SET threads = 1")          # one thread: DuckDB polls for Ctrl-C between tasks
        # bounded (about 15 s on one thread): a missed Ctrl-C fails the test, never hangs it
        con.execute("SELECT count(*) FROM range(2000000000) t(x) WHERE x % 7 = 3").fetchall()
        return real(con, raw, table)

    listing = tmp_path / "a.jsonl"
    listing.write_text('{"id": "a/b"}\n')
    monkeypatch.setattr(normalize, "normalize_into", slow)
    ignore = lambda signum, frame: None                            # noqa: E731
    previous = signal.signal(signal.SIGINT, ignore)
    try:
        assert main(["-q", "ingest", str(listing), "--store", str(tmp_path / "s.duckdb")]) == 130
        assert signal.getsignal(signal.SIGINT) is ignore           # main restored the handler
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    assert "phylohf ingest: interrupted; committed batches are kept" in one_line(capsys)
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        assert s.count() == 0                              # the interrupted batch was rolled back


def test_ctrl_c_in_python_code_exits_130(store, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr("phylohf.api.load", interrupted)
    assert main(["families", "--store", str(store)]) == 130
    assert one_line(capsys) == "phylohf families: interrupted\n"


# -- disk full ----------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_writing_the_report(store, capsys):
    assert main(["report", "--store", str(store), "--out", "/dev/full", "--bootstrap", "5", "--null", "2"]) == 1
    assert "error: the disk is full writing /dev/full; free some space" in one_line(capsys)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("forest", [False, True])
def test_disk_full_writing_trees(store, tmp_path, capsys, forest):
    out = tmp_path / "t"
    args = ["trees", "--store", str(store), "--out", str(out), *(["--forest"] if forest else [])]
    assert main(args) == 0
    for f in out.iterdir():             # each tree file a link to /dev/full: writing it fails as on a full disk
        if f.name != "index.tsv":       # (also in the process that writes the files of a file per family)
            f.unlink()
            f.symlink_to("/dev/full")
    capsys.readouterr()
    assert main(args) == 1
    assert f"phylohf trees: error: the disk is full writing {out}" in one_line(capsys)


def test_disk_full_in_the_store(tmp_path, monkeypatch, capsys):
    def full(*a, **k):
        raise duckdb.IOException('IO Error: Could not write file "s.duckdb.wal": No space left on device')
    monkeypatch.setattr(Store, "upsert", full)
    (tmp_path / "a.jsonl").write_text('{"id": "a/b"}\n')
    assert main(["-q", "ingest", str(tmp_path / "a.jsonl"), "--store", str(tmp_path / "s.duckdb")]) == 1
    assert "error: the disk is full (IO Error" in one_line(capsys)


# -- stores that are not stores -----------------------------------------------------------------
def _truncated(d: Path, store: Path) -> Path:
    (d / "t.duckdb").write_bytes(store.read_bytes()[:5000])
    return d / "t.duckdb"


def _truncated_later(d: Path, store: Path) -> Path:     # opens, then a read fails
    (d / "l.duckdb").write_bytes(store.read_bytes()[:len(store.read_bytes()) // 3])
    return d / "l.duckdb"


def _text(d: Path, store: Path) -> Path:
    (d / "x.duckdb").write_text("hello\n")
    return d / "x.duckdb"


def _sqlite(d: Path, store: Path) -> Path:
    with sqlite3.connect(d / "q.db") as con:                # DuckDB would fetch an extension for it
        con.execute("CREATE TABLE t (a)")
    return d / "q.db"


def _other_duckdb(d: Path, store: Path) -> Path:
    duckdb.connect(str(d / "o.duckdb")).execute("CREATE TABLE t (a INT)").close()
    return d / "o.duckdb"


@pytest.mark.parametrize("make,message", [
    (_truncated, "is damaged or truncated (IO Error: Could not read enough bytes"),
    (_truncated_later, "Could not read enough bytes"),
    (_text, "is not a DuckDB file (it starts b'hello\\n')"),
    (_sqlite, "is not a DuckDB file (it starts b'SQLite f')"),
    (_other_duckdb, "not a phylohf store (no models table): give another --store"),
])
@pytest.mark.parametrize("command", ["families", "ingest"])
def test_a_foreign_or_broken_store(store, tmp_path, capsys, make, message, command):
    path = make(tmp_path, store)
    before = path.read_bytes()
    (tmp_path / "a.jsonl").write_text('{"id": "a/b"}\n')
    args = ["families"] if command == "families" else ["-q", "ingest", str(tmp_path / "a.jsonl")]
    assert main([*args, "--store", str(path)]) == 1
    assert message in one_line(capsys)
    assert path.read_bytes() == before                     # left as it was


def test_a_store_from_a_newer_duckdb_says_so(store, monkeypatch, capsys):
    """DuckDB 1.4's words for a store that DuckDB 2 wrote: not damage, an old DuckDB."""
    def older(*a, **k):
        raise duckdb.IOException(
            "IO Error: Trying to read a database file with version number 999, but we can only read versions "
            "between 64 and 67.\nThe database file was created with an newer version of DuckDB.\n\nNewer DuckDB "
            "version might introduce backward incompatible changes (possibly guarded by compatibility settings).")
    monkeypatch.setattr(duckdb, "connect", older)
    assert main(["families", "--store", str(store)]) == 1
    err = one_line(capsys)
    assert f"was written by a newer DuckDB than this one ({duckdb.__version__}): upgrade it" in err
    assert "damaged" not in err


def _hold(path: Path, read_only: bool) -> subprocess.Popen:
    """Another process holding ``path`` open until killed."""
    p = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                          f"c = duckdb.connect({str(path)!r}, read_only={read_only}); print('open', flush=True); "
                          "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "open\n"
    return p


@pytest.mark.parametrize("read_only", [True, False])
def test_a_held_store_names_its_holder_truthfully(store, tmp_path, capsys, read_only):
    holder = _hold(store, read_only)
    try:
        (tmp_path / "a.jsonl").write_text('{"id": "a/b"}\n')
        assert main(["-q", "ingest", str(tmp_path / "a.jsonl"), "--store", str(store)]) == 1
        err = one_line(capsys)
        if read_only:
            assert f"is being read by process {holder.pid}, and writing needs it alone" in err
            assert "open for writing" not in err
        else:
            assert f"is open for writing by process {holder.pid}; wait for it to finish" in err
            assert main(["families", "--store", str(store)]) == 1
            assert f"is open for writing by process {holder.pid}" in one_line(capsys)
    finally:
        holder.kill()
        holder.wait()


# -- nothing before the inputs and outputs are known good ------------------------------------------
def test_ingest_of_a_missing_file_creates_no_store(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nosuch.parquet"), "--store", str(tmp_path / "s.duckdb")]) == 1
    assert "no such file: " in one_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["report", "--out", "{bad}/r.txt"], ["report", "--json", "{bad}/r.json"],
    ["report", "--figures", "{file}/figs"], ["trees", "--out", "{file}/trees"],
    ["draw", "--out", "{bad}/f.png"]])
def test_bad_outputs_fail_before_the_analysis(store, tmp_path, monkeypatch, capsys, args):
    def never(*a, **k):
        raise AssertionError("the analysis ran")
    monkeypatch.setattr("phylohf.api.load", never)
    (tmp_path / "file").write_text("")
    args = [a.format(bad=tmp_path / "no" / "dir", file=tmp_path / "file") for a in args]
    assert main([*args, "--store", str(store)]) == 1
    assert f"error: cannot write {args[1]} {args[2]}: " in one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_unwritable_output_folder(store, tmp_path, monkeypatch, capsys):
    """A read-only --out (as root permissions do not bind, so the refusal is simulated too)."""
    def refused(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    assert main(["trees", "--store", str(store), "--out", str(tmp_path)]) == 1
    assert f"error: cannot write --out {tmp_path}: Permission denied; choose another --out" in one_line(capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder(store, tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        assert main(["trees", "--store", str(store), "--out", str(tmp_path)]) == 1
    finally:
        tmp_path.chmod(0o700)
    assert "Permission denied; choose another --out" in one_line(capsys)


# -- bad values are usage errors --------------------------------------------------------------------
@pytest.mark.parametrize("args,option", [
    (["transitions", "--null", "-1"], "--null"),
    (["families", "--top", "-1"], "--top"), (["families", "--min-size", "-3"], "--min-size"),
    (["trees", "--min-size", "0"], "--min-size"), (["report", "--bootstrap", "-5"], "--bootstrap"),
    (["relatives", "--null", "-1"], "--null"), (["relatives", "--max-pairs", "0"], "--max-pairs"),
    (["asr", "--starts", "0"], "--starts"), (["asr", "--seed", "-1"], "--seed"),
    (["asr", "--top", "x"], "--top"), (["draw", "--max-nodes", "1", "--out", "f.png"], "--max-nodes"),
    (["ingest", "a.jsonl", "--workers", "0"], "--workers"), (["ingest", "hub:all", "--limit", "0"], "--limit"),
    (["simulate", "--models", "0", "--out", "x.parquet"], "--models"),
    (["audit-licenses", "--examples", "-2"], "--examples")])
def test_nonsensical_numbers_are_usage_errors(args, option, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert f"error: argument {option}: expected an integer" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["relatives", "--replicates", "50"], ["trees", "--formats", "newick"],
                                  ["--bogus", "families"]])
def test_an_unknown_option_is_a_usage_error_of_its_command(args, capsys):
    """The command's usage and name, not phylohf's list of commands."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    command = next(a for a in args if not a.startswith("-"))
    assert err.startswith(f"usage: phylohf {command} ")
    unknown = " ".join(a for a in args if a != command)
    assert err.rstrip().endswith(f"phylohf {command}: error: unrecognized arguments: {unknown}")


@pytest.mark.parametrize("value", ["0", "1", "-0.2", "1.5", "nan", "half"])
def test_mask_is_a_fraction(value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["asr", "--mask", value])
    assert e.value.code == 2
    assert "error: argument --mask: expected a fraction between 0 and 1" in capsys.readouterr().err
