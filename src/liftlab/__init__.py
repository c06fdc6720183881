"""liftlab: find out why an image classifier is stuck, and prove which remedies lift it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liftlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
