"""phylohf: the Hugging Face model ecosystem studied with the methods of phylogenetics."""
__version__ = "0.1.0"


def open(path=None, write: bool = False):
    """The ecosystem of a store (:func:`phylohf.api.open`): ``phylohf.open("eco.duckdb")``."""
    from .api import open as open_store
    return open_store(path, write)
