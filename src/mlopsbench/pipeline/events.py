"""The raw event log of a run: one JSON object per line, appended and flushed.

It is written once, while the run happens, and never edited; the tidy tables are
derived from it (DESIGN.md: raw exports stay as collected).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

EVENTS = "events.jsonl"


class EventLog:
    def __init__(self, path: Path):
        self._out = path.open("a", encoding="utf-8")

    def write(self, event: str, t: float | None = None, **fields) -> float:
        t = time.time() if t is None else t
        self._out.write(json.dumps({"t": t, "event": event, **fields}, sort_keys=True) + "\n")
        self._out.flush()
        return t

    def close(self) -> None:
        self._out.close()


def read_events(path: Path) -> list[dict]:
    events = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON event ({exc.msg})") from None
    return events
