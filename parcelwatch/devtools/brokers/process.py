"""What both development brokers share: a free loopback port and a child process
stopped for sure."""

from __future__ import annotations

import socket
import subprocess


class BrokerError(RuntimeError):
    pass


def stop_process(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, and SIGKILL if the process has not exited within `grace_s`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
