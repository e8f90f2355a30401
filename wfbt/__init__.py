"""wfbt: walk-forward backtests of sequence models (`wfbt run CONFIG`; see README.md)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wfbt")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.1.0"
