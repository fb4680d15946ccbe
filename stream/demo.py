"""`parcelwatch demo` (and `make demo`): a simulated day on the bundled Chinese network,
run through the detection core by replay, with what it found and how well.

This is the offline demo of the detection core; the live pipeline on Kafka replaces the
replay step when it lands.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from .evaluate import evaluate, render_table
from .network import Network
from .replay import replay
from .sim.generator import simulate_to_files

START = datetime.fromisoformat("2026-11-11T00:00:00+08:00")  # 双十一


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_demo(out: Path, parcels: int = 3000, console: Console | None = None) -> int:
    console = console or Console(width=None if Console().is_terminal else 120)
    out.mkdir(parents=True, exist_ok=True)
    network_path = Path(str(files("stream") / "data" / "network.yaml"))
    network = Network.load(network_path)
    hubs = sum(f.is_hub for f in network.facilities.values())
    console.rule("[bold]parcelwatch demo")
    console.print(
        f"network: {hubs} hubs, {len(network.facilities) - hubs} outlets; "
        f"simulating {parcels} parcels created on {START:%Y-%m-%d} (seed 11)…"
    )
    t0 = time.perf_counter()
    events, truth = out / "events.jsonl", out / "truth.jsonl"
    sim = simulate_to_files(network, parcels, START, 1, 11, events, truth)
    t1 = time.perf_counter()
    console.print(
        f"  {sim.records:,} records ({sim.scans:,} scans, {sim.pings:,} GPS pings, "
        f"{sim.malformed} malformed) in {t1 - t0:.1f} s"
    )
    console.print("replaying them through the detection core on the event clock…")
    summary = replay(network_path, events, out, until=sim.until)
    t2 = time.perf_counter()
    console.print(
        f"  {summary.lines:,} records in {t2 - t1:.1f} s "
        f"({summary.lines / (t2 - t1):,.0f} records/s)"
    )

    exceptions = _read(out / "exceptions.jsonl")
    tickets = _read(out / "tickets.jsonl")
    notes = _read(out / "notifications.jsonl")
    opened = Counter(e["type"] for e in exceptions if e["status"] == "OPEN")
    resolved = Counter(e["type"] for e in exceptions if e["status"] == "RESOLVED")
    table = Table(title="exception episodes")
    table.add_column("type")
    table.add_column("opened", justify="right")
    table.add_column("resolved", justify="right")
    for name, n in opened.most_common():
        table.add_row(name, str(n), str(resolved[name]))
    console.print(table)

    routed = Counter((t["department"], t["priority"]) for t in tickets if t["status"] == "OPEN")
    table = Table(title="tickets (工单) opened by department and priority")
    table.add_column("department")
    for p in ("P1", "P2", "P3", "P4"):
        table.add_column(p, justify="right")
    for dept in sorted({d for d, _ in routed}):
        table.add_row(dept, *(str(routed[(dept, p)]) for p in ("P1", "P2", "P3", "P4")))
    console.print(table)

    for locale in ("zh-CN", "en"):
        sample = [n for n in notes if n["locale"] == locale][:2]
        for note in sample:
            console.print(
                Panel(
                    note["body"],
                    title=f"{note['channel']} · {note['type']} · {note['title']}",
                    subtitle=f"send after {note['send_after']}",
                )
            )
    ticket = next((t for t in tickets if t["type"] == "DAMAGED"), tickets[0] if tickets else None)
    if ticket:
        console.print(
            Panel(
                "\n".join([ticket["summary"], *(f"• {a}" for a in ticket["suggested_actions"])]),
                title=f"ticket {ticket['priority']} → {ticket['department']}",
                subtitle=f"due {ticket['due_at']}",
            )
        )
    console.print(render_table(evaluate(truth, out / "exceptions.jsonl")))
    console.print(
        f"outputs in {out}/: events.jsonl, truth.jsonl, exceptions.jsonl, tickets.jsonl, "
        f"notifications.jsonl, dead_letters.jsonl ({summary.counts['dead_letters']} dead letters)"
    )
    return 0
