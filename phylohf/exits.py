"""How a command ends: exit codes, and the one line on stderr an error the user can act on
becomes.

Exit codes: 0 success; 1 the command failed (one line on stderr says why and what to
do); 2 bad command-line usage (values are checked as they are parsed); 3 ``ingest
--strict`` skipped malformed rows; 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import errno
import signal
import sys
import threading
from contextlib import contextmanager

EXIT_FAILED, EXIT_SKIPPED, EXIT_INTERRUPTED = 1, 3, 130      # 2 (usage) comes from argparse


@contextmanager
def interrupts():
    """Note Ctrl-C while the command runs: DuckDB turns it into errors of its own (e.g.
    ``RuntimeError: Query interrupted``), so the note, not the exception, tells."""
    seen: list[int] = []

    def note(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    here = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, note) if here else None
    try:
        yield lambda: bool(seen)
    finally:
        if here:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def duckdb_error(e: Exception) -> bool:
    """Whether ``e`` is DuckDB's (never, when no command imported DuckDB)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(e, duckdb.Error)


def failure(e: Exception) -> str:
    """One line for an error the user can act on."""
    if duckdb_error(e):
        import duckdb
        text = str(e).splitlines()[0]
        if "No space left" in text:
            return f"the disk is full ({text}); free some space and run again (committed batches are kept)"
        if isinstance(e, duckdb.IOException):
            return (f"the store cannot be read ({text}); if it was cut short or damaged, restore it "
                    f"from a copy or ingest again into a new --store")
        return f"the store failed: {text}"
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"the disk is full writing {e.filename or 'the output'}; free some space or write elsewhere"
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.strerror}: {e.filename}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__
