"""Many small files written by a process of their own: ``python files.py FOLDER`` reads
:func:`record` records on standard input and writes each into its file of ``FOLDER``, so
that the system calls of creating the files (most of the time of a file per family) run
beside the Python that renders the texts instead of waiting for its GIL after each call.

On an OSError the process prints ``errno<TAB>strerror<TAB>file`` on standard output and exits
1 (:func:`failure` reads it back as the OSError); Ctrl-C is left to the parent, which stops it.
It imports only the standard library, so it starts in a few milliseconds.
"""
from __future__ import annotations

import os
import signal
import struct
import sys

_HEAD = struct.Struct("<IQ")            # bytes of the file name, bytes of the data
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def write_file(path: str, data: bytes) -> None:
    """``data`` into the file ``path`` as it is, by plain system calls; an OSError names the file."""
    fd = os.open(path, _FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        e.filename = e.filename or path
        raise
    finally:
        os.close(fd)


def record(name: str, data: bytes) -> bytes:
    """The record that has the process write ``data`` into ``FOLDER/name``."""
    encoded = name.encode("utf-8")
    return _HEAD.pack(len(encoded), len(data)) + encoded + data


def failure(report: bytes, code: int) -> OSError:
    """The OSError the process with exit code ``code`` reported on standard output."""
    if not report:
        return OSError(f"the file writer stopped (exit code {code})")
    number, message, path = report.decode("utf-8", "replace").rstrip("\n").split("\t", 2)
    return OSError(int(number), message, path)


def _serve(folder: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    read = open(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False).read
    while head := read(_HEAD.size):
        size, length = _HEAD.unpack(head)
        path, data = os.path.join(folder, read(size).decode("utf-8")), read(length)
        try:
            write_file(path, data)
        except OSError as e:
            sys.stdout.write(f"{e.errno}\t{e.strerror}\t{e.filename}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
