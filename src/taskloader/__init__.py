"""taskloader: bulk-create Amazon Connect tasks from files, paced, retried and idempotent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskloader")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
