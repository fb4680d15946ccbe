"""Running the live pipeline: the worker (with the embedded broker when no cluster is
configured), topic creation, `produce` and `tail`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import structlog
import uvloop
from faust import Worker
from pydantic import SecretStr

from parcelwatch.schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS
from parcelwatch.service import logs
from parcelwatch.service.app import create_app
from parcelwatch.service.clients import create_topics
from parcelwatch.service.settings import ServiceSettings
from parcelwatch.service.transactions import wipe_local_tables


def app_settings(bootstrap: str, app_id: str, **fields: Any) -> ServiceSettings:
    """Settings of an app whose contract topics carry its id as a prefix: the tests and
    the bench run several apps on one broker, and one app's events must not move
    another's event clock."""
    names = {f"topic_{t}": f"{app_id}.{t}" for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)}
    return ServiceSettings(bootstrap_servers=bootstrap, app_id=app_id, **{**names, **fields})


def settings_env(settings: ServiceSettings) -> dict[str, str]:
    """The environment that configures a worker as `settings` (what differs from the
    defaults)."""
    env = {}
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = str(value).lower()
        env[f"PARCELWATCH_{name.upper()}"] = str(value)
    return env


def spawn_worker(settings: ServiceSettings, log: Path, loglevel: str = "info") -> subprocess.Popen:
    """`parcelwatch worker` in a child process, configured by `settings` through its
    environment, its output appended to `log` (the demo, the bench, the tests)."""
    env = {**os.environ, **settings_env(settings)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parcelwatch", "worker", "--loglevel", loglevel],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def refusal(settings: ServiceSettings, embedded: bool) -> str | None:
    """Why the worker will not start with these settings (one line), None if it will."""
    if settings.processing_guarantee != "exactly_once":
        return None
    if embedded or settings.tansu:
        return "exactly_once needs Kafka transactions, and Tansu has none: use at_least_once"
    return None


def run_worker(
    settings: ServiceSettings, bootstrap: str, embedded: bool, loglevel: str | None = None
) -> int:
    refused = refusal(settings, embedded)
    if refused is not None:
        print(f"parcelwatch worker: {refused}", file=sys.stderr)
        return 2
    level = loglevel or settings.log_level
    if settings.event_loop == "uvloop":  # before Faust creates its loops (one per thread)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    config = logs.configure(level, settings.log_format)
    pipeline = create_app(settings, bootstrap, embedded)
    if settings.metrics:  # before anything reaches the broker: a taken port ends it early
        try:
            pipeline.metrics.serve(settings.metrics_port, settings.metrics_host)
        except OSError as exc:
            structlog.get_logger(__name__).error(
                f"metrics: cannot listen on {settings.metrics_host}:{settings.metrics_port} "
                f"({exc.strerror}): another process has the port; set "
                "PARCELWATCH_METRICS_PORT to a free one, or 0 for any",
            )
            return 3
    create_topics(settings, bootstrap, embedded)
    if settings.processing_guarantee == "exactly_once" and wipe_local_tables(
        Path(pipeline.app.conf.tabledir)
    ):
        structlog.get_logger(__name__).info(
            "exactly_once: the tables are restored from their committed changelogs"
        )
    worker = Worker(
        pipeline.app, loglevel=level, quiet=True, redirect_stdouts=False, logging_config=config
    )
    try:
        worker.execute_from_commandline()
    finally:
        pipeline.metrics.close()
    return 0


def install_stop_handlers() -> None:
    """SIGTERM ends a long-running command as Ctrl-C does, so `with` blocks (the embedded
    broker above all) are cleaned up."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
