"""Property tests: random valid streams never crash the core, never open one episode
twice, and always give the same records."""

from collections import Counter, defaultdict
from datetime import datetime

from hypothesis import HealthCheck, given, settings

from parcelwatch.detection.detector import Detector
from tests.support.strategies import SHANGHAI, streams
from tests.support.streams import feed


def _run(network, stream, until_days=12):
    detector = Detector(network)
    for record in stream:
        feed(detector, record)
    clock = detector.clock.now or 0
    detector.advance(clock + until_days * 86_400_000_000)
    return [(topic, record.model_dump(mode="json")) for topic, record in detector.outputs]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_random_streams_keep_every_invariant(network, stream):
    outputs = _run(network, stream)
    exceptions = [r for topic, r in outputs if topic == "exceptions"]
    tickets = [r for topic, r in outputs if topic == "tickets"]
    notes = [r for topic, r in outputs if topic == "notifications"]

    # One episode = OPEN, UPDATEs, then at most one RESOLVED, with one id.
    history = defaultdict(list)
    for record in exceptions:
        history[record["exception_id"]].append(record)
    for records in history.values():
        statuses = [r["status"] for r in records]
        assert statuses[0] == "OPEN" and statuses.count("OPEN") == 1
        assert "RESOLVED" not in statuses[:-1]
        assert len({(r["waybill_no"], r["type"], r["opened_at"]) for r in records}) == 1

    # At most one open episode per waybill and type at any moment (gap records of
    # MISSED_SCAN (c) open and resolve at once, beside any open episode).
    open_now = Counter()
    for record in exceptions:
        if record["evidence"].get("variant") == "CHECKPOINT_SKIPPED":
            continue
        if record["evidence"].get("resolution") == "CHECKPOINT_SKIPPED":
            continue
        key = (record["waybill_no"], record["type"])
        if record["status"] == "OPEN":
            open_now[key] += 1
            assert open_now[key] == 1
        elif record["status"] == "RESOLVED":
            open_now[key] -= 1

    # Tickets follow their episode, one ticket per episode, none for predictions.
    by_ticket = defaultdict(list)
    for ticket in tickets:
        by_ticket[ticket["ticket_id"]].append(ticket)
        assert ticket["type"] != "DELAY_PREDICTED"
    for history_of_ticket in by_ticket.values():
        assert len({t["exception_id"] for t in history_of_ticket}) == 1
        assert [t["status"] for t in history_of_ticket].count("OPEN") == 1
    assert len(by_ticket) == len(
        {e for e, r in history.items() if r[0]["type"] != "DELAY_PREDICTED"}
    )

    # Notifications: customer-facing types only, at most two per episode, unique ids,
    # at most three per waybill per local day.
    per_episode = Counter(n["exception_id"] for n in notes)
    assert all(count <= 2 for count in per_episode.values())
    assert len({n["notification_id"] for n in notes}) == len(notes)
    per_day = Counter(
        (n["waybill_no"], datetime.fromisoformat(n["send_after"]).astimezone(SHANGHAI).date())
        for n in notes
    )
    assert all(count <= 3 for count in per_day.values())
    internal = {"MISSED_SCAN", "STALLED_AT_FACILITY", "STALLED_IN_TRANSIT", "MISROUTED"}
    assert not internal & {n["type"] for n in notes}


@settings(max_examples=60, deadline=None)
@given(streams)
def test_the_same_input_gives_the_same_records(network, stream):
    assert _run(network, stream) == _run(network, stream)
