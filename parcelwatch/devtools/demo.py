"""`parcelwatch demo` (and `make demo`): the live service on a simulated 双十一.

An embedded Kafka-protocol broker, a worker process on the event clock, and a simulated
stream of thousands of parcels over a day (and the days their journeys take) produced
onto the topics time-compressed. A live view shows what the service publishes as it
happens; at the end, what it found is scored against the simulator's ground truth.
Everything is left in the output folder.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TextIO

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from parcelwatch.devtools.brokers import BrokerKind, open_broker, worker_fields
from parcelwatch.devtools.brokers.process import free_port, stop_process
from parcelwatch.edge.files import waybill_numbers
from parcelwatch.network.graph import Network
from parcelwatch.offline.calibrate import calibrate, settings_yaml
from parcelwatch.offline.replay import replay
from parcelwatch.schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS
from parcelwatch.service.clients import (
    committed,
    create_topics,
    produce,
    topic_name,
)
from parcelwatch.service.runner import spawn_worker
from parcelwatch.service.settings import ServiceSettings
from parcelwatch.sim.config import SimConfig
from parcelwatch.sim.evaluate import evaluate, render_table
from parcelwatch.sim.generator import simulate_to_files

START = datetime.fromisoformat("2026-11-11T00:00:00+08:00")  # 双十一
HISTORY_START = datetime.fromisoformat("2026-11-04T00:00:00+08:00")  # a week before
HISTORY_SEED = 1007  # not the played stream's: learned on one day, measured on another
CST = START.tzinfo
STALL_S = 180.0
"""Give up on the worker only when nothing has moved for this long: no input read
(committed), no output. A busy machine makes the demo slower, never shorter: the
live-vs-replay comparison runs only on complete results."""
PING_SECONDS = (180.0, 300.0)
"""Trucks report every 3–5 minutes here (the simulator's default is 30–60 s): a common
tracker setting, and it keeps the stream small enough for two cores and three minutes."""
QUIET_S = 8.0
"""The worker has read the whole stream and nothing new came out for this long: the
service is done (deadlines that fall due at the stream's end come out within it)."""


class Board:
    """What the live view shows, fed from the output topics."""

    def __init__(self, out: Path) -> None:
        self.files = {name: (out / f"{name}.jsonl").open("wb") for name in OUTPUT_TOPICS}
        self.counts: Counter[str] = Counter()
        self.open: dict[str, str] = {}  # exception_id -> type, while open
        self.opened: Counter[str] = Counter()
        self.notes: deque[dict] = deque(maxlen=4)
        self.tickets: deque[dict] = deque(maxlen=4)
        self.sent = 0
        self.read = 0  # input records the worker has processed and committed
        self.event_time: float | None = None
        self.last_output = time.monotonic()
        self.complete = False  # the worker read everything and settled

    def add(self, logical: str, raw: bytes) -> None:
        self.files[logical].write(raw + b"\n")
        self.counts[logical] += 1
        self.last_output = time.monotonic()
        record = json.loads(raw)
        if logical == "exceptions":
            if record["status"] == "OPEN":
                self.open[record["exception_id"]] = record["type"]
                self.opened[record["type"]] += 1
            elif record["status"] == "RESOLVED":
                self.open.pop(record["exception_id"], None)
        elif logical == "notifications":
            self.notes.append(record)
        elif logical == "tickets" and record["status"] == "OPEN":
            self.tickets.append(record)

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()

    def render(self, elapsed: float, records: int) -> Group:
        when = (
            datetime.fromtimestamp(self.event_time, UTC).astimezone(CST).strftime("%m-%d %H:%M")
            if self.event_time
            else "—"
        )
        head = (
            f"[bold]{elapsed:5.0f} s[/]  stream time {when} (UTC+8)  ·  "
            f"input {self.sent:,}/{records:,} records ({self.sent / max(elapsed, 1e-9):,.0f}/s),"
            f" {self.read:,} read by the worker"
            f"  ·  out: {self.counts['exceptions']:,} exception events, "
            f"{self.counts['tickets']:,} tickets, {self.counts['notifications']:,} "
            f"notifications, {self.counts['dead_letters']:,} dead letters"
        )
        kinds = Table(title="exceptions", expand=False)
        kinds.add_column("type")
        kinds.add_column("open now", justify="right")
        kinds.add_column("opened", justify="right")
        now_open = Counter(self.open.values())
        for name, n in sorted(self.opened.items()):
            kinds.add_row(name, str(now_open[name]), str(n))
        notes = Table(title="latest notifications", expand=True, show_lines=False)
        notes.add_column("locale", no_wrap=True)
        notes.add_column("channel", no_wrap=True)
        notes.add_column("message")
        for n in reversed(self.notes):
            notes.add_row(n["locale"], n["channel"], f"[bold]{n['title']}[/] {n['body']}")
        tickets = Table(title="latest tickets (工单)", expand=True)
        for col in ("priority", "department", "type", "waybill"):
            tickets.add_column(col, no_wrap=True)
        tickets.add_column("summary")
        for t in reversed(self.tickets):
            tickets.add_row(
                t["priority"], t["department"], t["type"], t["waybill_no"], t["summary"]
            )
        return Group(head, kinds, notes, tickets)


def _consume(settings: ServiceSettings, bootstrap: str, board: Board, stop: threading.Event):
    names = {topic_name(settings, t): t for t in OUTPUT_TOPICS}
    consumer = KafkaConsumer(
        *names,
        bootstrap_servers=bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        while not stop.is_set():
            for tp, messages in consumer.poll(timeout_ms=200).items():
                for message in messages:
                    board.add(names[tp.topic], message.value)
    finally:
        consumer.close()


def run_demo(
    out: Path,
    parcels: int = 500,
    speed: float = 5000.0,
    console: Console | None = None,
    kind: BrokerKind = "tansu",
) -> int:
    console = console or Console(width=None if Console().is_terminal else 120)
    out.mkdir(parents=True, exist_ok=True)
    network_path = Path(str(files("parcelwatch") / "data" / "network.yaml"))
    network = Network.load(network_path)
    hubs = sum(f.is_hub for f in network.facilities.values())
    console.rule("[bold]parcelwatch demo — the live service on a simulated 双十一")
    console.print(
        f"network: {hubs} hubs, {len(network.facilities) - hubs} outlets; simulating "
        f"{parcels:,} parcels created on {START:%Y-%m-%d} (seed 11)…"
    )
    events, truth = out / "events.jsonl", out / "truth.jsonl"
    config = SimConfig()
    config.ping_seconds = PING_SECONDS
    learned = _learn(network, parcels, config, out, console)
    sim = simulate_to_files(network, parcels, START, 1, 11, events, truth, config, False)
    console.print(
        f"  {sim.records:,} records ({sim.scans:,} scans, {sim.pings:,} GPS pings, "
        f"{sim.malformed} malformed), played at {speed:,.0f}× (a simulated day in "
        f"{86400 / speed:.0f} s)"
    )
    if kind == "kafka":
        console.print("starting Apache Kafka (the first run fetches it from Maven Central)…")
    with open_broker(kind, log=out / "broker.log") as broker:
        settings = ServiceSettings(
            bootstrap_servers=broker.bootstrap, clock="event", **worker_fields(kind)
        )
        create_topics(settings, broker.bootstrap, embedded=True)
        what = "Apache Kafka" if kind == "kafka" else "embedded broker"
        console.print(f"{what} on {broker.bootstrap}; starting the worker…")
        metrics_port, web_port = free_port(), free_port()
        worker_settings = settings.model_copy(
            update={
                "store": "memory://",
                "data_dir": str(out / "worker-data"),
                "tick_interval_s": 0.2,
                "config_file": str(learned),
                "metrics_port": metrics_port,
                "web_port": web_port,
                "web_host": "127.0.0.1",
                "web_bind": "127.0.0.1",
                # A fresh broker: no table is ever restored, so batches may hold many
                # records (see ServiceSettings.tansu_single_record_batches).
                "tansu_single_record_batches": False,
            }
        )
        worker = spawn_worker(worker_settings, out / "worker.log")
        page = f"http://127.0.0.1:{web_port}/"
        console.print(
            f"agents' page (查件): [bold]{page}[/] — look up a waybill, e.g. "
            f"{next(iter(waybill_numbers(events, 1)), '—')}"
        )
        try:
            board = _run(
                settings, broker.bootstrap, events, sim.records, speed, console, metrics_port
            )
            if not board.complete:
                console.print(
                    f"[red]the worker made no progress for {STALL_S:.0f} s with "
                    f"{board.read:,} of {board.sent:,} input records read: its results are "
                    f"incomplete, so they are neither scored nor compared with replay "
                    f"(see {out}/worker.log)"
                )
                return 1
            result = _summary(network_path, truth, out, console, learned)
            hold(console, page, _example(out))
            return result
        finally:
            stop_process(worker, 30)


def _example(out: Path) -> str | None:
    """A parcel with an open exception, the kind an agent is called about."""
    opened: dict[str, str] = {}
    with (out / "exceptions.jsonl").open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            if record["status"] == "RESOLVED":
                opened.pop(record["exception_id"], None)
            else:
                opened[record["exception_id"]] = record["waybill_no"]
    return next(iter(opened.values()), None)


def hold(console: Console, page: str, example: str | None, stdin: TextIO | None = None) -> None:
    """In a terminal, keep the worker up until Enter, so the page can be tried on the
    finished stream; never waits when stdin is not a terminal (CI, a pipe, cron)."""
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        return
    hint = f" (try {example}: it has an open exception)" if example else ""
    console.print(f"\nThe worker is still up: look parcels up at [bold]{page}[/]{hint}.")
    console.print("Press Enter to stop it.")
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        stdin.readline()


_UNSETTLED = ("parcelwatch_parcels_set_aside", "parcelwatch_deadline_backlog")


def _settled(metrics_port: int) -> bool:
    """Whether the worker has nothing left in hand: no input set aside for the other side,
    no deadline due and not yet processed (its own gauges). Everything committed and a
    quiet output are not enough: a set-aside scan is committed, and at the stream's end
    the waybill side can wait on the vehicle side for longer than the quiet spell. A
    worker whose metrics cannot be read counts as settled (the quiet spell decides)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return True
    for family in text_string_to_metric_families(text):
        if family.name in _UNSETTLED and any(s.value for s in family.samples):
            return False
    return True


def _run(
    settings: ServiceSettings,
    bootstrap: str,
    events: Path,
    records: int,
    speed: float,
    console: Console,
    metrics_port: int,
) -> Board:
    board = Board(events.parent)
    stop = threading.Event()
    consumer = threading.Thread(target=_consume, args=(settings, bootstrap, board, stop))
    consumer.start()
    time.sleep(6)  # the worker joins its group before the stream starts

    def progress(sent: int, event_time: float | None) -> None:
        board.sent = sent
        if event_time is not None:
            board.event_time = event_time

    def play() -> None:
        board.sent = produce(settings, bootstrap, events, speed, progress=progress)

    producer = threading.Thread(target=play)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    inputs = {topic_name(settings, t) for t in INPUT_TOPICS}
    started = moved = time.monotonic()
    producer.start()
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                now = time.monotonic()
                read = committed(admin, settings.app_id, inputs)
                if read != board.read or board.last_output > moved:
                    board.read, moved = read, now
                live.update(board.render(now - started, records))
                quiet = now - board.last_output
                # Quiet is not enough: at the stream's end the waybill side may still be
                # catching up with the vehicle side, with nothing to say for a while.
                if (
                    not producer.is_alive()
                    and quiet > QUIET_S
                    and read >= board.sent
                    and _settled(metrics_port)
                ):
                    board.complete = True
                    break
                if producer.is_alive():
                    moved = now  # a stall counts from the end of the stream
                elif now - moved > STALL_S:
                    break  # stuck: run_demo says so, and scores nothing
                time.sleep(0.5)
    finally:
        admin.close()
        stop.set()
        consumer.join()
        board.close()
    return board


def _learn(network: Network, parcels: int, config: SimConfig, out: Path, console: Console) -> Path:
    """The last mile per outlet and the expected delivery, learned from a previous
    simulated day (another seed): what an operator does with last week's stream before a
    busy day (docs/eta.md)."""
    history = out / "history.jsonl"
    console.print(
        f"learning the last mile and the expected delivery from a previous day: "
        f"{parcels:,} parcels created on "
        f"{HISTORY_START:%Y-%m-%d} (seed {HISTORY_SEED}), `parcelwatch calibrate`…"
    )
    truth = out / "history-truth.jsonl"
    simulate_to_files(
        network, parcels, HISTORY_START, 1, HISTORY_SEED, history, truth, config, False
    )
    calibration = calibrate(history, network)
    last_mile = calibration.last_mile
    learned = out / "learned.yaml"
    learned.write_text(settings_yaml(calibration, str(history)), encoding="utf-8")
    console.print(
        f"  {last_mile.samples:,} deliveries: {len(last_mile.own)} outlets learned on their "
        f"own, the rest pooled at {last_mile.pooled_hours} h; "
        + ("an expected delivery window; " if calibration.expected is not None else "")
        + f"the worker and replay use {learned.name}"
    )
    return learned


def _summary(network: Path, truth: Path, out: Path, console: Console, learned: Path) -> int:
    result = evaluate(truth, out / "exceptions.jsonl")
    console.print(render_table(result))
    # The same stream through replay: the live pipeline should agree record for record.
    replay(network, out / "events.jsonl", out / "replay", config=learned)
    live, offline = (
        {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, path.open())}
        for path in (out / "exceptions.jsonl", out / "replay" / "exceptions.jsonl")
    )
    result["live_vs_replay"] = {
        "same": len(live & offline),
        "live_only": len(live - offline),
        "replay_only": len(offline - live),
    }
    console.print(
        f"live vs replay of the same stream: {len(live & offline):,} exception events the "
        f"same, {len(live - offline)} only live, {len(offline - live)} only in replay"
    )
    (out / "evaluation.json").write_text(json.dumps(result, indent=2))
    console.print(
        f"outputs in {out}/: events.jsonl, truth.jsonl, exceptions.jsonl, tickets.jsonl, "
        "notifications.jsonl, dead_letters.jsonl, evaluation.json, worker.log, broker.log; "
        "history.jsonl and learned.yaml (the last mile learned)"
    )
    return 0
