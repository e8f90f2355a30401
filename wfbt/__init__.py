"""wfbt: walk-forward backtests of sequence models (`wfbt run CONFIG`; see README.md).

From Python: `wfbt.run(config, data=None, **overrides)` and `wfbt.load(RUN_DIR)` (docs/api.md).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wfbt")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.1.0"


def __getattr__(name: str):
    """`wfbt.run` and `wfbt.load`, imported on first use: `import wfbt` (and the CLI) stay light."""
    if name in ("run", "load"):
        from wfbt import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'wfbt' has no attribute {name!r}")


__all__ = ["__version__", "load", "run"]
