"""The session-end check finds what a test left running, grandchildren included."""

import os
import subprocess

from tests.support.processes import descendants


def test_a_process_left_running_is_found_below_the_session():
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        for _ in range(50):
            found = descendants(os.getpid())
            if any(command.startswith("sleep 30") for command in found.values()):
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert found[shell.pid].startswith("sh -c")
        assert any(command == "sleep 30" for command in found.values())
    finally:
        for pid, command in descendants(os.getpid()).items():
            if command == "sleep 30":  # first: once its shell is gone it is not ours
                os.kill(pid, 9)
        shell.kill()
        shell.wait()
