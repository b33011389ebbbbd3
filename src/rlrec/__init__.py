"""rlrec: reinforcement-learning recommender systems (IL-Rec and MARCO) as one library and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rlrec")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
