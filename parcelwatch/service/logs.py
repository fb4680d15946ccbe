"""Logging: structlog for parcelwatch's own lines, and the standard library's records
(Faust, aiokafka, mode) through the same processors, so every line of a worker comes
out in one format — JSON (one object per line, for a log shipper) or a readable console
rendering on a terminal — and with phone numbers masked, whatever logged them.

Context: `waybill_no`, `event_id` and `vehicle_id` are passed as keys where a line is
about one of them, and `bind` puts them on every line logged within a block.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal

import structlog

# Phone numbers as people write them (CONTRACT §7): mainland mobiles bare or grouped
# 3-4-4 with spaces or dashes, with or without the 86 country code (`+86`, `0086`, `86`);
# landlines with their area code (`0755-12345678`); any number written with a leading +;
# and all of these in full-width digits. The patterns run on an ASCII shadow of the text
# (full-width digits, dashes and spaces mapped one to one, so positions agree) and only
# digits are replaced: timestamps, offsets and ids, which logs need intact, do not match
# (a landline needs its separator, a mobile exactly 11 digits between non-digits).
_SHADOW = str.maketrans(
    {
        **{chr(0xFF10 + d): str(d) for d in range(10)},
        "\uff0b": "+",
        "\uff0d": "-",
        "\u3000": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
    }
)
# Not after a digit, unless that digit ends an escape (`\xe4\xb8\x89` is 三 in a bytes repr).
_START = r"(?:(?<!\d)|(?<=\\x[0-9a-fA-F]{2})|(?<=\\u[0-9a-fA-F]{4}))"
_MOBILE = re.compile(_START + r"((?:(?:\+|00)?86[ -]?)?1[3-9]\d)([ -]?\d{4}[ -]?\d{4})(?!\d)")
_LANDLINE = re.compile(_START + r"(0[1-9]\d{1,2}[ -])(\d{7,8})(?!\d)")
_INTERNATIONAL = re.compile(r"()(\+\d[\d -]{5,20}\d)")
_FIELD = re.compile(r"""(["']?phone["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^,}\s]+)""", re.IGNORECASE)
# A full-width digit escaped, as in a bytes repr (`\xef\xbc\x91`) or JSON (`\uff11`):
# turned back into its digit first, so an escaped number is masked too.
_ESCAPED = re.compile(r"\\xef\\xbc\\x(9[0-9])|\\u[fF][fF]1([0-9])")


def _unescape(m: re.Match[str]) -> str:
    return str(int(m[1], 16) - 0x90) if m[1] else m[2]


def keep_tail(text: str) -> str:
    """`text` with every digit but the last 4 starred."""
    digits = sum(c.isdigit() for c in text)
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - 4 else "*")
        else:
            out.append(c)
    return "".join(out)


def mask(text: str) -> str:
    """`text` with every phone number masked: its digits starred but the last 4 (and a
    mobile's first 3, the carrier prefix) — enough for an operator to match a complaint,
    not enough to call. Applied to every log line; never to dead letters' raw input."""
    if "\\" in text:
        text = _ESCAPED.sub(_unescape, text)
    shadow = text.translate(_SHADOW)
    starred: list[tuple[int, int]] = []
    for pattern in (_FIELD, _MOBILE, _LANDLINE, _INTERNATIONAL):
        for m in pattern.finditer(shadow):
            starred.append((m.start(2), m.end(2)))
    if not starred:
        return text
    chars = list(text)
    for start, end in starred:
        kept = keep_tail(shadow[start:end])
        for offset, c in enumerate(kept):
            if c == "*":
                chars[start + offset] = "*"
    return "".join(chars)


def _mask_values(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: keep_tail(str(v)) if k == "phone" else _mask_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_values(v) for v in value]
    return value


def mask_phones(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers in every value (and the message)."""
    for key, value in event_dict.items():
        if key == "phone" and value is not None:
            event_dict[key] = keep_tail(str(value))
        elif isinstance(value, str | dict | list | tuple):
            event_dict[key] = _mask_values(value)
    return event_dict


Format = Literal["auto", "json", "console"]


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.format_exc_info,
    ]


def formatter(fmt: Format = "auto", stream: Any = None) -> logging.Formatter:
    """A standard-library formatter that renders any record as structlog does."""
    if fmt == "auto":
        fmt = "console" if (stream or sys.stderr).isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            mask_phones,
            renderer,
        ],
    )


def configure(level: str = "info", fmt: Format = "auto") -> dict[str, Any]:
    """Set up structlog and the root logger; returns the `logging.config` dict, which
    a Faust worker is given too (it sets up logging again when it starts)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),  # masking and rendering happen once, in the formatter
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"parcelwatch": {"()": lambda: formatter(fmt)}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "parcelwatch",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
    logging.config.dictConfig(config)
    return config


@contextmanager
def bind(**context: Any) -> Iterator[None]:
    """Put `waybill_no=`, `event_id=`, `vehicle_id=`… on every line logged in the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
