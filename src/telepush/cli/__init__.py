"""The ``telepush`` command."""

from telepush.cli.main import app, main

__all__ = ["app", "main"]
