"""Writes a network file without its planning data (schedules, tz, handling_hours,
delivery_window): the same facilities and lanes, continuous departures, 2 h handling,
delivery at any time (CONTRACT §3). Used to compare the ETA models with and without a
timetable. Run: python tools/strip_planning.py IN.yaml OUT.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PLANNING = ("tz", "handling_hours", "delivery_window")


def strip(text: str) -> str:
    data = yaml.safe_load(text)
    data.pop("schedules", None)
    for facility in data.get("facilities", []):
        for key in PLANNING:
            facility.pop(key, None)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


if __name__ == "__main__":
    source, target = map(Path, sys.argv[1:3])
    target.write_text(strip(source.read_text(encoding="utf-8")), encoding="utf-8")
