"""Starting the worker: settings it refuses, as a user meets them (a real process)."""

import os
import subprocess
import sys


def test_exactly_once_on_tansu_is_refused_at_start_up_with_one_line():
    env = {
        **os.environ,
        "PARCELWATCH_PROCESSING_GUARANTEE": "exactly_once",
        "PARCELWATCH_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached
        "PARCELWATCH_TANSU": "true",
    }
    done = subprocess.run(
        [sys.executable, "-m", "parcelwatch", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("parcelwatch worker: ") and "Tansu has none" in line
