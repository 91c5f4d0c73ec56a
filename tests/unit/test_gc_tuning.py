"""The garbage collector's settings for long-running processes: start-up's objects frozen, a
larger young generation, and cycles still collected."""

from __future__ import annotations

import json
import subprocess
import sys

from telepush.gc_tuning import YOUNG_GENERATION

# In a process of its own: the settings are the whole interpreter's.
_PROBE = """
import gc, json, weakref
from telepush.gc_tuning import tune_for_long_running
before = gc.get_threshold()
tune_for_long_running()

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
junk = [[] for _ in range(3 * YOUNG)]  # kept: the young generation fills, a pass runs
print(json.dumps({
    "before": before,
    "after": gc.get_threshold(),
    "frozen": gc.get_freeze_count(),
    "cycle_collected": gone() is None,
}))
""".replace("YOUNG", str(YOUNG_GENERATION))


def test_long_running_processes_freeze_start_up_and_still_collect_cycles() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["before"][0] == 700  # Python's default
    assert seen["after"] == [YOUNG_GENERATION, seen["before"][1], seen["before"][2]]
    assert seen["frozen"] > 1000  # the modules and classes imported by then
    assert seen["cycle_collected"]
