"""Logs: one format for our lines and the libraries' (JSON or console), with context
keys, and phone numbers masked whatever logged them."""

import io
import json
import logging

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from parcelwatch.service import logs


def _capture(fmt: str) -> io.StringIO:
    """Configure logging as a worker does, writing to a buffer."""
    logs.configure("info", fmt)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter(fmt))
    logging.getLogger().handlers = [handler]
    return buffer


def test_structlog_lines_are_json_with_context_and_masked_phones():
    buffer = _capture("json")
    log = structlog.get_logger("parcelwatch.test")
    with logs.bind(waybill_no="SF1", event_id="SF1-03"):
        log.warning("dead letter", vehicle_id="V1", raw='{"phone": "13941545078"}')
    line = json.loads(buffer.getvalue().splitlines()[-1])
    assert line["event"] == "dead letter" and line["level"] == "warning"
    assert (line["waybill_no"], line["event_id"], line["vehicle_id"]) == ("SF1", "SF1-03", "V1")
    assert "13941545078" not in buffer.getvalue()
    assert "5078" in line["raw"] and "timestamp" in line


def test_library_lines_go_through_the_same_masking():
    buffer = _capture("json")
    logging.getLogger("faust.agent").info("could not send to %s", "+44 20 7946 0958")
    line = json.loads(buffer.getvalue().splitlines()[-1])
    assert line["logger"] == "faust.agent"
    assert "7946" not in line["event"] and line["event"].endswith("0958")


def test_console_format_is_readable_text():
    buffer = _capture("console")
    structlog.get_logger("parcelwatch.test").info("partitions assigned", phone="13800138000")
    text = buffer.getvalue()
    assert "partitions assigned" in text and "13800138000" not in text
    assert not text.lstrip().startswith("{")


def test_mask_leaves_other_numbers_alone():
    text = "offset 1794354235000000 at 2026-11-23T12:00:00+08:00 key SF007000000014"
    assert logs.mask(text) == text
    assert logs.mask("call 13941545078 now") == "call 139****5078 now"
    assert logs.mask('"phone": "0755-8888 1234"') == '"phone": "****-**** 1234"'


@given(
    st.text(max_size=20),
    st.sampled_from("3456789"),
    st.text("0123456789", min_size=9, max_size=9),
    st.text(max_size=20),
)
def test_any_mobile_number_in_any_text_is_masked(before, second, rest, after):
    number = f"1{second}{rest}"
    text = f"{before} {number} {after}"
    masked = logs.mask(text)
    assert number not in masked
    assert number[-4:] in masked


PHONES = [
    "13912345678",
    "139-1234-5678",
    "139 1234 5678",
    "+86 139 1234 5678",
    "+8613912345678",
    "8613912345678",
    "0086 13912345678",
    "0755-12345678",
    "010 87654321",
    "１３９１２３４５６７８",
    "１３９－１２３４－５６７８",
]


def _digits(text: str) -> str:
    """The digits of `text` in ASCII (full-width ones too), in order."""
    return "".join(str(int(c)) for c in text if c.isdigit())


@pytest.mark.parametrize("phone", PHONES)
def test_every_phone_format_is_masked(phone):
    masked = logs.mask(f"recipient {phone}, call back")
    assert _digits(phone)[-8:] not in _digits(masked)
    assert _digits(masked).endswith(_digits(phone)[-4:])
    assert masked.startswith("recipient ") and masked.endswith(", call back")


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_no_phone_in_any_line_at_any_level_whoever_logs_it(phone, level):
    """Our lines, a library's (as aiokafka logs a record it sends, bytes and all), an
    error text and a traceback: the number never shows, in any format."""
    buffer = io.StringIO()
    logs.configure("debug", "json")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter("json"))
    logging.getLogger().handlers = [handler]
    value = ('{"recipient": {"name": "张三' + phone + '", "phone": "' + phone + '"}}').encode()
    getattr(structlog.get_logger("parcelwatch.test"), level)(
        "dead letter", error=f"unknown facility '{phone}'"
    )
    getattr(logging.getLogger("aiokafka.producer"), level)(
        "Sending (key=%s value=%s)", b"W1", value
    )
    try:
        raise ValueError(f"bad value {phone}")
    except ValueError:
        structlog.get_logger("parcelwatch.test").exception("processing failed")
    text = buffer.getvalue()
    assert text.count("\n") == 3
    for line in text.splitlines():
        assert phone not in line
        assert _digits(phone)[-8:] not in _digits(line)  # nor escaped, nor full-width
