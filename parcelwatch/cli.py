"""The `parcelwatch` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _cmd_replay(args: argparse.Namespace) -> int:
    from parcelwatch.offline.replay import ReplayError, replay

    try:
        summary = replay(
            args.network,
            args.input,
            args.out,
            until=args.until,
            config=args.config,
            eta_out=args.eta_out,
        )
    except ReplayError as exc:
        print(f"parcelwatch replay: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.counts.items())
    print(f"replayed {summary.records} records of {summary.lines} lines: {counts}", file=sys.stderr)
    return 0


def _cmd_fuzz(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from parcelwatch.devtools.fuzz import run

    network = Path(args.network) if args.network else _default_network()
    with tempfile.TemporaryDirectory(prefix="parcelwatch-fuzz-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        report = run(network, args.records, args.seed, workdir, mutate_share=args.mutate)
    figures = report.to_json()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        rate = "/".join(f"{r:,}" for r in figures["replay_lines_per_s"]) or "-"
        print(
            f"fuzz seed {args.seed}: {report.lines:,} lines ({report.mutated:,} mutated) -> "
            f"{report.applied:,} applied, {report.dead_letters:,} dead letters; crashes "
            f"{report.crashes}, unaccounted {report.unaccounted}, nondeterministic "
            f"{report.nondeterministic or 0}, unsafe texts {report.unsafe_text}; replay "
            f"{rate} lines/s",
            file=sys.stderr,
        )
        for reason, n in figures["dead_letter_reasons"].items():
            print(f"  {reason:>20} {n:,}", file=sys.stderr)
        for error in report.errors:
            print(error, file=sys.stderr)
    return 0 if report.ok else 1


def _cmd_schemas(args: argparse.Namespace) -> int:
    from parcelwatch.spec.jsonschema import export_schemas

    try:
        paths = export_schemas(Path(args.out))
    except OSError as exc:
        print(f"parcelwatch schemas: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _cmd_asyncapi(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    from parcelwatch.service.settings import ServiceSettings
    from parcelwatch.spec.asyncapi import build, render

    return _write(
        args,
        "asyncapi",
        render(build(ServiceSettings().contract_topics(), version=version("parcelwatch"))),
    )


def _cmd_openapi(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    from parcelwatch.spec.openapi import openapi_document, render

    return _write(args, "openapi", render(openapi_document(version=version("parcelwatch"))))


def _write(args: argparse.Namespace, command: str, text: str) -> int:
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"parcelwatch {command}: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


def _default_network() -> Path:
    from importlib.resources import files

    return Path(str(files("parcelwatch") / "data" / "network.yaml"))


def _cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from parcelwatch.network.graph import Network, NetworkError
    from parcelwatch.sim.config import SimConfig
    from parcelwatch.sim.generator import simulate_to_files

    try:
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            raise ValueError("needs a UTC offset")
    except ValueError as exc:
        print(f"parcelwatch simulate: --start {args.start!r}: {exc}", file=sys.stderr)
        return 2
    if args.parcels < 1 or args.days <= 0:
        print("parcelwatch simulate: --parcels and --days must be positive", file=sys.stderr)
        return 2
    try:
        network = Network.load(args.network or _default_network())
        config = SimConfig.load(args.rates)
        if args.gps_batch is not None:
            config = config.model_copy(update={"gps_batch": args.gps_batch})
            SimConfig.model_validate(config.model_dump())  # 1-500, or a one-line error
        summary = simulate_to_files(
            network,
            args.parcels,
            start,
            args.days,
            args.seed,
            Path(args.out),
            Path(args.truth),
            config,
        )
    except (NetworkError, ValueError, OSError) as exc:
        print(f"parcelwatch simulate: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.parcels} parcels, {summary.records} records ({summary.scans} scans, "
        f"{summary.pings} GPS pings, {summary.malformed} malformed), {summary.labels} truth "
        f"labels, {summary.quiet} quiet parcels; replay with --until {summary.until}",
        file=sys.stderr,
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from parcelwatch.sim.evaluate import (
        EvaluateError,
        evaluate,
        render_eta,
        render_messages,
        render_table,
    )

    exceptions = Path(args.exceptions)
    notifications = Path(args.notifications) if args.notifications else None
    if notifications is None and (exceptions.parent / "notifications.jsonl").exists():
        notifications = exceptions.parent / "notifications.jsonl"  # replay's layout
    eta = Path(args.eta) if args.eta else None
    if eta is None and (exceptions.parent / "eta.jsonl").exists():
        eta = exceptions.parent / "eta.jsonl"  # as `replay --eta-out OUT/eta.jsonl` left it
    try:
        result = evaluate(Path(args.truth), exceptions, notifications, eta)
    except EvaluateError as exc:
        print(f"parcelwatch evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        console = Console(width=None if Console().is_terminal else 120)
        console.print(render_table(result))
        if "messages" in result:
            console.print(render_messages(result["messages"]))
        if "eta" in result:
            console.print(render_eta(result["eta"]))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from parcelwatch.network.graph import Network, NetworkError
    from parcelwatch.offline.calibrate import CalibrateError, calibrate, settings_yaml

    try:
        network = Network.load(args.network or _default_network())
        learned = calibrate(Path(args.input), network, args.quantile, args.min_samples)
    except (NetworkError, CalibrateError) as exc:
        print(f"parcelwatch calibrate: {exc}", file=sys.stderr)
        return 2
    text = settings_yaml(learned, Path(args.input).name)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    last_mile = learned.last_mile
    print(
        f"learned the last mile of {len(last_mile.hours)} outlets from {last_mile.samples} "
        f"deliveries ({len(last_mile.own)} on their own, the rest pooled: "
        f"{last_mile.pooled_hours} h at quantile {last_mile.quantile}); "
        + (
            "and the expected delivery's window"
            if learned.expected is not None
            else "no expected delivery (too few pickups, connections or deliveries)"
        ),
        file=sys.stderr,
    )
    return 0


def _service(args: argparse.Namespace):
    from parcelwatch.service.settings import ServiceSettings

    overrides = {}
    for name in (
        "bootstrap_servers",
        "clock",
        "partitions",
        "store",
        "network_file",
        "config_file",
        "data_dir",
        "web_port",
        "metrics_port",
        "tansu",
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return ServiceSettings(**overrides)


def _cmd_worker(args: argparse.Namespace) -> int:
    from parcelwatch.devtools.brokers import bootstrap_servers
    from parcelwatch.service.runner import run_worker

    settings = _service(args)
    try:
        with bootstrap_servers(settings) as (bootstrap, embedded):
            if embedded:
                print(f"embedded broker on {bootstrap}", file=sys.stderr)
            return run_worker(settings, bootstrap, embedded, args.loglevel)
    except KeyboardInterrupt:
        return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    import time

    from parcelwatch.devtools.brokers import BrokerKind, open_broker
    from parcelwatch.devtools.brokers.process import BrokerError
    from parcelwatch.service.clients import create_topics
    from parcelwatch.service.runner import install_stop_handlers

    install_stop_handlers()
    settings = _service(args)
    kind: BrokerKind = "kafka" if args.kafka else "tansu"
    data = Path(args.data_dir) if args.data_dir else None
    try:
        with open_broker(kind, port=args.port, data_dir=data) as broker:
            create_topics(settings, broker.bootstrap, embedded=True)
            what = "Apache Kafka" if args.kafka else "embedded broker (Tansu)"
            where = f", data in {broker.data_dir}" if broker.data_dir else ""
            print(f"{what} on {broker.bootstrap}{where} (Ctrl-C to stop)", file=sys.stderr)
            while True:
                time.sleep(3600)
    except BrokerError as exc:
        print(f"parcelwatch broker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _need_bootstrap(settings, command: str) -> str | None:
    if not settings.bootstrap_servers:
        print(
            f"parcelwatch {command}: set --bootstrap-servers or PARCELWATCH_BOOTSTRAP_SERVERS",
            file=sys.stderr,
        )
        return None
    return settings.bootstrap_servers


def _cmd_produce(args: argparse.Namespace) -> int:
    from parcelwatch.edge.intake import MAX_RECORD_BYTES
    from parcelwatch.service.clients import produce

    settings = _service(args)
    bootstrap = _need_bootstrap(settings, "produce")
    if bootstrap is None:
        return 2
    path = Path(args.input)
    if not path.is_file():
        print(f"parcelwatch produce: {path}: cannot read", file=sys.stderr)
        return 2
    try:

        def progress(n: int, _when: float | None) -> None:
            print(f"\r{n:,} records sent", end="", file=sys.stderr)

        def skipped(line: int, size: int) -> None:
            print(
                f"\nparcelwatch produce: {path}:{line}: skipped, {size:,} bytes is over "
                f"the {MAX_RECORD_BYTES:,}-byte record limit",
                file=sys.stderr,
            )

        sent = produce(
            settings,
            bootstrap,
            path,
            args.speed,
            progress=progress,
            skipped=skipped,
            partitioner=args.partitioner,
        )
    except KeyboardInterrupt:
        return 0
    print(f"\r{sent:,} records sent", file=sys.stderr)
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    import json

    from parcelwatch.service.clients import tail

    settings = _service(args)
    bootstrap = _need_bootstrap(settings, "tail")
    if bootstrap is None:
        return 2
    pretty: Callable[..., None]
    try:  # rich is the [dev] extra: the production image prints indented JSON
        from rich.console import Console

        pretty = Console().print_json
    except ImportError:
        pretty = lambda data: print(json.dumps(data, ensure_ascii=False, indent=2), flush=True)  # noqa: E731

    try:
        for record in tail(
            settings, bootstrap, args.topic, args.from_beginning, args.limit, args.idle
        ):
            if args.jsonl:
                print(json.dumps(record, ensure_ascii=False), flush=True)
            else:
                pretty(data=record)
    except KeyboardInterrupt:
        return 0
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from parcelwatch.devtools.demo import run_demo

    return run_demo(Path(args.out), args.parcels, args.speed, kind=args.broker)


def _cmd_bench(args: argparse.Namespace) -> int:
    from parcelwatch.devtools.bench import run_bench

    result = run_bench(Path(args.out), args.parcels, args.seed, broker_kind=args.broker)
    return 0 if result["same_as_replay"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parcelwatch",
        description="Exception detection for express-delivery parcel networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="run the rules offline over a replay file (CONTRACT §8)")
    p.add_argument("--network", required=True, help="network YAML file")
    p.add_argument("--input", required=True, help="EVENTS.jsonl in arrival order")
    p.add_argument("--out", required=True, help="directory for the output .jsonl files")
    p.add_argument("--until", help="move the clock to this time after the last record")
    p.add_argument("--config", help="settings file (YAML or JSON) overriding rule defaults")
    p.add_argument(
        "--eta-out", help="also write each parcel's ETA at each moment of its journey here"
    )
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser("fuzz", help="replay hostile input at volume and check CONTRACT §7")
    p.add_argument("--records", type=int, default=200_000, help="lines to generate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mutate", type=float, default=0.5, help="share of lines mutated")
    p.add_argument("--network", help="network YAML file (default: the bundled network)")
    p.add_argument("--keep", help="directory to keep the input and outputs in")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_cmd_fuzz)

    p = sub.add_parser("schemas", help="export JSON Schema for every record")
    p.add_argument("--out", required=True, help="directory for the .schema.json files")
    p.set_defaults(func=_cmd_schemas)

    p = sub.add_parser("asyncapi", help="write the AsyncAPI 3 description of every topic")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=_cmd_asyncapi)

    p = sub.add_parser("openapi", help="write the OpenAPI 3.1 description of the lookup API")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=_cmd_openapi)

    p = sub.add_parser("simulate", help="generate a network stream with faults and truth")
    p.add_argument("--parcels", type=int, default=2000)
    p.add_argument("--start", default="2026-11-11T00:00:00+08:00", help="ISO time with offset")
    p.add_argument("--days", type=float, default=1.0, help="days over which parcels are created")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="events file (replay format)")
    p.add_argument("--truth", required=True, help="ground-truth file")
    p.add_argument("--network", help="network YAML (default: the bundled Chinese network)")
    p.add_argument("--rates", help="YAML/JSON overriding product mix, fault and noise rates")
    p.add_argument(
        "--gps-batch",
        type=int,
        help="upload each truck's pings N at a time, as GpsBatch records (default 1: one by one)",
    )
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("evaluate", help="precision/recall of exceptions against ground truth")
    p.add_argument("--truth", required=True)
    p.add_argument("--exceptions", required=True)
    p.add_argument(
        "--notifications",
        help="notifications.jsonl for false customer messages (default: beside --exceptions)",
    )
    p.add_argument(
        "--eta", help="the ETA log of `replay --eta-out` (default: eta.jsonl beside --exceptions)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "calibrate",
        help="learn the last mile per outlet and the expected delivery from a past stream",
    )
    p.add_argument("--input", required=True, help="history in replay format (CONTRACT §8)")
    p.add_argument("--network", help="network YAML (default: the bundled Chinese network)")
    p.add_argument("--quantile", type=float, default=0.5, help="of each outlet's last miles")
    p.add_argument(
        "--min-samples", type=int, default=30, help="fewer deliveries: the pooled figure"
    )
    p.add_argument("--out", help="settings file to write (default: stdout)")
    p.set_defaults(func=_cmd_calibrate)

    def service_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap-servers", help="Kafka host:port,... (default: embedded)")
        p.add_argument("--partitions", type=int)

    p = sub.add_parser("worker", help="run the live pipeline (embedded broker if none is set)")
    service_options(p)
    p.add_argument("--clock", choices=("wall", "event"))
    p.add_argument("--store", help="table store: rocksdb:// (default) or memory://")
    p.add_argument("--data-dir")
    p.add_argument("--network", dest="network_file")
    p.add_argument("--config", dest="config_file")
    p.add_argument("--web-port", type=int)
    p.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0: any free)")
    p.add_argument(
        "--loglevel", default=None, help="log level (default: PARCELWATCH_LOG_LEVEL, else info)"
    )
    p.add_argument(
        "--tansu",
        action="store_true",
        default=None,
        help="the configured cluster is a Tansu broker (apply its work-arounds)",
    )
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("broker", help="run a broker alone: the embedded one, or Apache Kafka")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--kafka",
        action="store_true",
        help="Apache Kafka (a KRaft node; Java 17 and Maven; fetched once into "
        "~/.cache/parcelwatch/kafka) instead of the embedded Tansu",
    )
    p.add_argument("--data-dir", help="Apache Kafka's log directory (default: a temporary one)")
    p.add_argument("--partitions", type=int)
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("produce", help="send a replay-format file to the input topics")
    service_options(p)
    p.add_argument("--input", required=True)
    p.add_argument("--speed", type=float, help="event seconds per wall second (default: max)")
    p.add_argument(
        "--partitioner",
        choices=["murmur2", "crc32"],
        default="murmur2",
        help="murmur2 as Java clients, or crc32 as librdkafka's (kcat, confluent-kafka)",
    )
    p.set_defaults(func=_cmd_produce)

    p = sub.add_parser("tail", help="pretty-print an output topic")
    service_options(p)
    p.add_argument("topic", help="exceptions, tickets, notifications, dead_letters or a name")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--limit", type=int)
    p.add_argument("--idle", type=float, help="stop after this many seconds without records")
    p.add_argument("--jsonl", action="store_true", help="one compact JSON record per line")
    p.set_defaults(func=_cmd_tail)

    p = sub.add_parser(
        "demo", help="the live service on a simulated day: broker, worker, stream, live view"
    )
    p.add_argument("--out", default="out/demo", help="directory for the outputs")
    p.add_argument("--parcels", type=int, default=500)
    p.add_argument("--speed", type=float, default=5000.0, help="event seconds per second")
    p.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default="tansu",
        help="the embedded Tansu (no set-up) or Apache Kafka (Java and Maven)",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "bench", help="throughput, latency, memory, state size: pipeline against a baseline"
    )
    p.add_argument("--out", default="out/bench", help="directory for the outputs and JSON")
    p.add_argument("--parcels", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default="tansu",
        help="the embedded Tansu or Apache Kafka (Java and Maven)",
    )
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
