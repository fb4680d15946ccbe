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


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out))


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

    p = sub.add_parser("demo", help="replay the bundled sample stream and show what it finds")
    p.add_argument("--out", default="out/demo", help="directory for the outputs")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
