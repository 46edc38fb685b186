"""The one shape of every analysis result: ``to_dict()`` is exactly what the command prints
with ``--json``, ``text()`` (and ``str()``) its text report, ``to_frame()`` its table where
it is one."""
from __future__ import annotations


class Result:
    """Base of the result dataclasses; subclasses implement ``to_dict`` and ``text``."""

    def to_dict(self) -> dict:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()


def frame(rows: list[dict]):
    """``rows`` as a pandas DataFrame when pandas is installed, else a pyarrow Table."""
    try:
        import pandas
    except ImportError:
        import pyarrow
        return pyarrow.Table.from_pylist(rows)
    return pandas.DataFrame(rows)
