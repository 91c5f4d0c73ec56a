"""telepush: push telematics data to customers' HTTPS endpoints, securely and never lost."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("telepush")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

USER_AGENT = f"telepush/{__version__}"
