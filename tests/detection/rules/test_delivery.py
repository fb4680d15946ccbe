def _out_for_delivery(events, locale="zh-CN"):
    events.waybill(promised=200, locale=locale, name="Alice Smith" if locale == "en" else "张伟")
    events.journey()
    events.lines = events.lines[:-1]  # no DELIVERED yet
    return events


def test_failures_escalate_and_delivery_resolves(events, run):
    _out_for_delivery(events)
    events.scan("DELIVERY_FAILED", "C-OUT", 17, reason="RECIPIENT_ABSENT")
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 30)
    events.scan("DELIVERY_FAILED", "C-OUT", 31, reason="ADDRESS_INVALID")
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 40)
    events.scan("DELIVERY_FAILED", "C-OUT", 41, reason="RECIPIENT_ABSENT")
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 50)
    events.scan("DELIVERED", "C-OUT", 51)
    out = run(events)
    records = out.of("DELIVERY_FAILED")
    assert [(r["status"], r["severity"]) for r in records] == [
        ("OPEN", "MEDIUM"),
        ("UPDATED", "HIGH"),
        ("UPDATED", "CRITICAL"),
        ("RESOLVED", "CRITICAL"),
    ]
    assert len({r["exception_id"] for r in records}) == 1
    tickets = [t for t in out.tickets if t["type"] == "DELIVERY_FAILED"]
    assert [(t["status"], t["priority"], t["department"]) for t in tickets] == [
        ("OPEN", "P3", "DELIVERY_STATION"),
        ("UPDATED", "P2", "DELIVERY_STATION"),
        ("UPDATED", "P2", "DELIVERY_STATION"),
        ("RESOLVED", "P2", "DELIVERY_STATION"),
    ]
    notes = [n for n in out.notifications if n["type"] == "DELIVERY_FAILED"]
    assert len(notes) == 2  # one for the episode, one for the escalation, no more


def test_failure_arriving_after_delivery_raises_nothing(events, run):
    events.waybill(promised=200).journey()  # DELIVERED at 17 h
    events.scan("DELIVERY_FAILED", "C-OUT", 16.5, reason="RECIPIENT_ABSENT")  # uploaded late
    assert run(events, until=100).exceptions == []


def test_english_recipient_gets_english(events, run):
    _out_for_delivery(events, locale="en")
    events.scan("DELIVERY_FAILED", "C-OUT", 17, reason="REFUSED")
    (note,) = run(events).notifications
    assert note["locale"] == "en"
    assert note["body"].startswith("Hello Alice Smith,")
    assert "refused" in note["body"]


def test_return_to_sender_is_terminal_except_for_damage(events, run):
    _out_for_delivery(events)
    events.scan("DAMAGE_REPORTED", "C-OUT", 16.5, reason="MINOR")
    events.scan("DELIVERY_FAILED", "C-OUT", 17, reason="REFUSED")
    events.scan("RETURNED_TO_SENDER", "C-OUT", 20)
    out = run(events, until=300)
    failed = out.of("DELIVERY_FAILED")
    assert [r["status"] for r in failed] == ["OPEN", "RESOLVED"]
    assert failed[1]["evidence"]["resolution"] == "RETURNED_TO_SENDER"
    assert out.statuses("DAMAGED") == ["OPEN"]
    assert out.of("LOST_SUSPECTED") == [] and out.of("STALLED_AT_FACILITY") == []
