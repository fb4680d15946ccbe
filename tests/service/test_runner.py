"""Starting the worker: settings it refuses, as a user meets them (a real process)."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({}, "exactly_once is not offered"),
        ({"PARCELWATCH_TANSU": "true"}, "Tansu has none"),
    ],
)
def test_exactly_once_is_refused_at_start_up_with_one_line(extra, says):
    env = {
        **os.environ,
        "PARCELWATCH_PROCESSING_GUARANTEE": "exactly_once",
        "PARCELWATCH_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached
        **extra,
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
    assert line.startswith("parcelwatch worker: ") and says in line
