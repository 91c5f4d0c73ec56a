"""The operator's console: replay tasks, endpoint health and pausing, figures over time.

Beside ``telepush.operations`` (ingest, customers, single deliveries), on the same layer:
the HTTP API and the CLI both use it, and it reaches persistence only through the Store.
"""

from telepush.console.health import DepthHistory, Endpoints
from telepush.console.replay import Replays

__all__ = ["DepthHistory", "Endpoints", "Replays"]
