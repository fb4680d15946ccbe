"""The processes a test session started and left running (a worker, a broker): found
through /proc, so a helper that forgot one cannot hide it."""

from __future__ import annotations

from pathlib import Path


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every live (not zombie) process below `root`."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state == "Z":
            continue
        children.setdefault(int(ppid), []).append(int(entry.name))
        commands[int(entry.name)] = command.strip()
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found[pid] = commands[pid]
            stack.append(pid)
    return found
