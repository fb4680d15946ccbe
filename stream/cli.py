"""The `parcelwatch` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_replay(args: argparse.Namespace) -> int:
    from .replay import ReplayError, replay

    try:
        summary = replay(args.network, args.input, args.out, until=args.until, config=args.config)
    except ReplayError as exc:
        print(f"parcelwatch replay: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.counts.items())
    print(f"replayed {summary.records} records of {summary.lines} lines: {counts}", file=sys.stderr)
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from .schemas.export import export_schemas

    try:
        paths = export_schemas(Path(args.out))
    except OSError as exc:
        print(f"parcelwatch schemas: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _default_network() -> Path:
    from importlib.resources import files

    return Path(str(files("stream") / "data" / "network.yaml"))


def _cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from .network import Network, NetworkError
    from .sim.config import SimConfig
    from .sim.generator import simulate_to_files

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
        summary = simulate_to_files(
            network, args.parcels, start, args.days, args.seed,
            Path(args.out), Path(args.truth), config,
        )  # fmt: skip
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

    from .evaluate import EvaluateError, evaluate, render_table

    try:
        result = evaluate(Path(args.truth), Path(args.exceptions))
    except EvaluateError as exc:
        print(f"parcelwatch evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        Console(width=None if Console().is_terminal else 120).print(render_table(result))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), args.parcels)


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
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser("schemas", help="export JSON Schema for every record")
    p.add_argument("--out", required=True, help="directory for the .schema.json files")
    p.set_defaults(func=_cmd_schemas)

    p = sub.add_parser("simulate", help="generate a network stream with faults and truth")
    p.add_argument("--parcels", type=int, default=2000)
    p.add_argument("--start", default="2026-11-11T00:00:00+08:00", help="ISO time with offset")
    p.add_argument("--days", type=float, default=1.0, help="days over which parcels are created")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="events file (replay format)")
    p.add_argument("--truth", required=True, help="ground-truth file")
    p.add_argument("--network", help="network YAML (default: the bundled Chinese network)")
    p.add_argument("--rates", help="YAML/JSON overriding product mix, fault and noise rates")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("evaluate", help="precision/recall of exceptions against ground truth")
    p.add_argument("--truth", required=True)
    p.add_argument("--exceptions", required=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="replay the bundled sample stream and show what it finds")
    p.add_argument("--out", default="out/demo", help="directory for the outputs")
    p.add_argument("--parcels", type=int, default=3000)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
