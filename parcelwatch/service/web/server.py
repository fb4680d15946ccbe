"""The lookup API and the agents' page, on each worker's Faust web server.

Any worker answers for any key. A key's state lives on the partition its records
arrived on, which the producer's partitioner chose (CONTRACT §1: Java clients hash with
murmur2, librdkafka with CRC32), so Faust's `table_route`, which assumes murmur2, can
send a request to a worker that never saw the key. A worker that does not hold the key
asks, in turn, the owners of the murmur2 and the CRC32 partitions, then every other
worker; a request passed on carries `X-Parcelwatch-Hop` and is answered from local
state only, so it is never passed on again. A vehicle's parcels are spread over every
waybill partition: each worker is asked for those it holds.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote

import aiohttp
import faust
import orjson
import structlog
from aiohttp import web
from faust.types import TP
from pydantic import BaseModel

from parcelwatch.detection.codec import load_stored_vehicle, load_stored_waybill
from parcelwatch.detection.context import RuleContext
from parcelwatch.edge.partitioners import crc32_partition
from parcelwatch.schemas.api import ErrorView, VehicleView, WaybillView
from parcelwatch.schemas.common import ID_CHARS
from parcelwatch.service.handlers import partition_of
from parcelwatch.service.settings import ServiceSettings
from parcelwatch.service.web.guard import COOKIE, RateLimit, Token
from parcelwatch.service.web.lookup import vehicle_view, waybill_view
from parcelwatch.spec.openapi import openapi_document

log = structlog.get_logger(__name__)

HOP = "X-Parcelwatch-Hop"
"""Set on a request one worker passes to another: answer from local state only."""
WAYBILL_NO = re.compile(r"[A-Za-z0-9-]{1,40}")  # as the Waybill schema's waybill_no
VEHICLE_ID = re.compile(rf"[^{ID_CHARS}/?#]{{1,64}}")  # as the schema's, less what ends a path
HOP_RATE_FACTOR = 20
"""A worker passing requests on speaks for many clients: its budget is this many times
a client's."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    # Everything the page needs is inline in it; it loads nothing from anywhere.
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}


def _page(name: str) -> str:
    return (files("parcelwatch.service.web") / name).read_text(encoding="utf-8")


def _json(model: BaseModel | dict, status: int = 200, **headers: str) -> web.Response:
    body = model.model_dump_json().encode() if isinstance(model, BaseModel) else orjson.dumps(model)
    return web.Response(
        body=body,
        status=status,
        content_type="application/json",
        headers={**SECURITY_HEADERS, **headers},
    )


def _error(status: int, code: str, detail: str, **headers: str) -> web.Response:
    return _json(ErrorView(error=code, detail=detail), status, **headers)


class Lookup:
    """Reads the tables of the partitions this worker owns, and asks the others."""

    def __init__(
        self,
        app: Any,
        settings: ServiceSettings,
        ctx: RuleContext,
        waybill_table: Any,
        vehicle_table: Any,
        riders: Callable[[str], list[str]],
        now: Callable[[], int | None],
        metrics: Any,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self.ctx = ctx
        self.waybill_table = waybill_table
        self.vehicle_table = vehicle_table
        self.riders = riders
        self.now = now
        self.metrics = metrics
        self.wall = wall
        self.token = Token(settings.api_token.get_secret_value() if settings.api_token else None)
        self.limit = RateLimit(settings.api_rate_per_s, settings.api_burst)
        self.hop_limit = RateLimit(
            settings.api_rate_per_s * HOP_RATE_FACTOR, settings.api_burst * HOP_RATE_FACTOR
        )
        self.page = _page("page.html")
        self.signin = _page("signin.html")
        self.document = orjson.dumps(openapi_document())

    # -- who is asked ----------------------------------------------------------------
    @property
    def me(self) -> str:
        return str(self.app.conf.canonical_url)

    def _owner(self, table: Any, partition: int) -> str | None:
        topic = table.changelog_topic.get_topic_name()
        for url, topics in self.app.router.tables_metadata().items():
            if partition in topics.get(topic, ()):
                return str(url)
        return None

    def peers(self, table: Any, key: bytes) -> list[str]:
        """The other workers to ask for `key`, in order: the owners of its partition by
        murmur2 and by CRC32, then the rest."""
        n = self.settings.partitions
        by = (partition_of(key, n), crc32_partition(key, list(range(n)), []))
        first = [self._owner(table, p) for p in by]
        every = [str(url) for url in self.app.router.tables_metadata()]
        out: list[str] = []
        for url in [*first, *sorted(every)]:
            if url is not None and url != self.me and url not in out:
                out.append(url)
        return out

    def _active(self, table: Any, partition: int | None) -> bool:
        """Whether this worker owns `partition` of `table` (a standby copy may be behind:
        the owner answers). A state stored without its partition counts as owned."""
        if partition is None:
            return True
        tp = TP(table.changelog_topic.get_topic_name(), partition)
        return tp in self.app.assignor.assigned_actives()

    def _clock(self, state_clock: int | None) -> int:
        now = self.now()
        if now is None or (state_clock is not None and state_clock > now):
            now = state_clock
        return now if now is not None else 0

    def local_waybill(self, waybill_no: str) -> WaybillView | None:
        data = self.waybill_table.get(waybill_no.encode())
        if data is None:
            return None
        w, partition = load_stored_waybill(data)
        if not self._active(self.waybill_table, partition):
            return None
        return waybill_view(w, self.ctx, self._clock(w.clock), self.me)

    def local_vehicle(self, vehicle_id: str) -> VehicleView | None:
        data = self.vehicle_table.get(vehicle_id.encode())
        v, partition = load_stored_vehicle(data) if data is not None else (None, None)
        if v is not None and not self._active(self.vehicle_table, partition):
            v = None
        parcels = self.riders(vehicle_id)
        if v is None and not parcels:
            return None
        return vehicle_view(
            vehicle_id,
            v,
            parcels,
            self.ctx,
            self._clock(v.clock if v is not None else None),
            self.me if v is not None else "",
        )

    async def _ask(self, url: str, path: str, request: web.Request) -> tuple[int, bytes] | None:
        headers = {HOP: "1"}
        for name in ("Authorization", "Cookie"):
            if name in request.headers:
                headers[name] = request.headers[name]
        timeout = aiohttp.ClientTimeout(total=self.settings.api_peer_timeout_s)
        try:
            async with self.app.http_client.get(
                url.rstrip("/") + path, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("a worker did not answer a lookup", peer=url, error=str(exc))
            return None

    # -- the routes ------------------------------------------------------------------
    async def waybill(self, request: web.Request, waybill_no: str) -> web.Response:
        if not WAYBILL_NO.fullmatch(waybill_no):
            return _error(400, "bad_request", "a waybill number is 1 to 40 letters, digits or '-'")
        view = self.local_waybill(waybill_no)
        if view is not None:
            return _json(view)
        if request.headers.get(HOP):
            return _error(404, "not_found", "not held here")
        path = f"/waybills/{waybill_no}"
        silent = 0
        for url in self.peers(self.waybill_table, waybill_no.encode()):
            answer = await self._ask(url, path, request)
            if answer is None or answer[0] >= 500:
                silent += 1
            elif answer[0] == 200:
                return web.Response(
                    body=answer[1], content_type="application/json", headers=SECURITY_HEADERS
                )
        if silent:
            return _error(
                503,
                "unavailable",
                f"{silent} worker(s) did not answer; try again",
                **{"Retry-After": "1"},
            )
        return _error(404, "not_found", f"no waybill {waybill_no} is known")

    async def vehicle(self, request: web.Request, vehicle_id: str) -> web.Response:
        if not VEHICLE_ID.fullmatch(vehicle_id):
            return _error(400, "bad_request", "a vehicle id is 1 to 64 characters, no spaces")
        here = self.local_vehicle(vehicle_id)
        if request.headers.get(HOP):
            return _json(here) if here is not None else _error(404, "not_found", "not held here")
        path = f"/vehicles/{quote(vehicle_id, safe='')}"
        others = [url for url in self.peers(self.vehicle_table, vehicle_id.encode())]
        answers = await asyncio.gather(*(self._ask(url, path, request) for url in others))
        views = [here] if here is not None else []
        silent = 0
        for answer in answers:
            if answer is None or answer[0] >= 500:
                silent += 1
            elif answer[0] == 200:
                views.append(VehicleView.model_validate_json(answer[1]))
        if silent:  # its parcels are on every worker: a partial list would mislead
            return _error(
                503,
                "unavailable",
                f"{silent} worker(s) did not answer; try again",
                **{"Retry-After": "1"},
            )
        if not views:
            return _error(404, "not_found", f"no vehicle {vehicle_id} is known")
        tracked = next((v for v in views if v.tracked), views[0])
        parcels = sorted({p for v in views for p in v.parcels})
        return _json(tracked.model_copy(update={"parcels": parcels}))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.document, content_type="application/json", headers=SECURITY_HEADERS
        )

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=self.page, content_type="text/html", headers=PAGE_HEADERS)

    async def sign_in(self, request: web.Request) -> web.Response:
        """The page's sign-in form: a right token becomes the cookie the page's
        requests carry."""
        form = parse_qs((await request.content.read(1024)).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        if not self.token.allows(f"Bearer {token}"):
            return self._sign_in_page(wrong=True)
        response = web.HTTPSeeOther("/")
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure
        )
        return response

    def _sign_in_page(self, wrong: bool = False) -> web.Response:
        text = self.signin.replace("{{wrong}}", "wrong" if wrong else "")
        return web.Response(text=text, status=401, content_type="text/html", headers=PAGE_HEADERS)

    # -- every request ---------------------------------------------------------------
    def _refused(self, route: str, request: web.Request) -> web.Response | None:
        """The answer to a request that may not go on: too many, or no token."""
        hop = bool(request.headers.get(HOP))
        limit = self.hop_limit if hop else self.limit
        wait = limit.take(request.remote or "?", self.wall())
        if wait > 0:
            return _error(
                429,
                "rate_limited",
                "too many requests",
                **{"Retry-After": str(max(1, round(wait)))},
            )
        if route == "/signin" or self.token.allows(
            request.headers.get("Authorization"), request.cookies.get(COOKIE)
        ):
            return None
        if route == "/":
            return self._sign_in_page()
        return _error(
            401,
            "unauthorized",
            "a bearer token is required",
            **{"WWW-Authenticate": 'Bearer realm="parcelwatch"'},
        )

    async def serve(
        self, route: str, request: web.Request, handler: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        start = time.perf_counter()
        response = self._refused(route, request)
        if response is None:
            try:
                response = await handler()
            except Exception:  # one bad request never takes the worker's web server down
                log.exception("lookup failed", route=route)
                response = _error(503, "unavailable", "the lookup failed; try again")
        self.metrics.http(route, response.status, time.perf_counter() - start)
        return response


def install(app: Any, lookup: Lookup) -> None:
    """The routes, as Faust pages (app.page): they are served once the worker's web
    server starts, alongside nothing else (see parcelwatch/service/app.py's `_Web`)."""

    @app.page("/")
    class Index(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await lookup.serve("/", request, lambda: lookup.index(request))

    @app.page("/signin")
    class SignIn(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            return await lookup.serve("/signin", request, lambda: lookup.sign_in(request))

    @app.page("/openapi.json")
    class OpenApi(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await lookup.serve("/openapi.json", request, lambda: lookup.openapi(request))

    @app.page("/waybills/{waybill_no}")
    class Waybills(faust.web.View):
        async def get(self, request: web.Request, waybill_no: str) -> web.Response:
            return await lookup.serve(
                "/waybills/{waybill_no}", request, lambda: lookup.waybill(request, waybill_no)
            )

    @app.page("/vehicles/{vehicle_id}")
    class Vehicles(faust.web.View):
        async def get(self, request: web.Request, vehicle_id: str) -> web.Response:
            return await lookup.serve(
                "/vehicles/{vehicle_id}", request, lambda: lookup.vehicle(request, vehicle_id)
            )


def riders_of(handler: Any) -> Callable[[str], list[str]]:
    """The parcels on a vehicle among the partitions this worker's waybill side owns."""

    def riders(vehicle_id: str) -> list[str]:
        return sorted({no for r in handler.riders.values() for no in r.on(vehicle_id)})

    return riders
