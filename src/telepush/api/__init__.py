"""The HTTP management API (FastAPI)."""

from telepush.api.app import create_app

__all__ = ["create_app"]
