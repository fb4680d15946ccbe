"""Who may ask, and how often: the bearer token and the per-client rate bound of the
lookup API and the page. No I/O; the clock is injected."""

from __future__ import annotations

import hmac
from collections import OrderedDict

COOKIE = "parcelwatch_token"
"""The page's sign-in cookie (HttpOnly, SameSite=Strict): a browser cannot add an
Authorization header to a page it navigates to."""


class Token:
    def __init__(self, secret: str | None) -> None:
        self._secret = secret.encode() if secret else None

    @property
    def required(self) -> bool:
        return self._secret is not None

    def allows(self, authorization: str | None, cookie: str | None = None) -> bool:
        """`Authorization: Bearer <token>`, or the sign-in cookie. Compared in constant
        time: a timing difference would tell an attacker how much of a guess is right."""
        if self._secret is None:
            return True
        for given in (_bearer(authorization), cookie):
            if given is not None and hmac.compare_digest(given.encode(), self._secret):
                return True
        return False


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class RateLimit:
    """A token bucket per client: `rate` requests a second on average, `burst` at once.
    At most `clients` buckets are kept (the least recently seen go first), so a flood of
    addresses cannot grow it without bound; a client forgotten starts with a full one."""

    def __init__(self, rate: float, burst: int, clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clients = clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """0 if `client` may go now (one request taken), else the seconds until it may."""
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.clients:
            self._buckets.popitem(last=False)
        return wait
