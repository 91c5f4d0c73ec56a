"""``telepush demo``: telepush and a receiver kit on this machine, fed with a realistic story.

One command, nothing else installed: a receiver kit over HTTPS (its own development CA,
OAuth2, scripted faults), telepush's API and worker on a SQLite file, a demo customer
configured over the real API, seeded synthetic trips, deletions, a crash, a crash report and
diagnoses pushed through it, an outage the deliveries ride out, live progress and a summary.

``workspace`` prepares the demo directory, ``clients`` talks to both services over HTTP,
``scenario`` tells the story, ``outcome`` counts what happened, ``session`` runs it all and
``view`` shows it in the terminal (Rich).
"""

from telepush.demo.session import DemoOptions, run_demo
from telepush.demo.workspace import Workspace, check_port, demo_settings, prepare_workspace

__all__ = [
    "DemoOptions",
    "Workspace",
    "check_port",
    "demo_settings",
    "prepare_workspace",
    "run_demo",
]
