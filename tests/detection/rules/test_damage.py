def _damaged(events, reason="MINOR", insured=0):
    return (
        events.waybill(promised=200, insured=insured)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 2)
        .scan("DAMAGE_REPORTED", "A-HUB", 2.5, reason=reason, photos=["https://img.example/1.jpg"])
    )


def test_damage_opens_a_claims_ticket_and_tells_the_customer(events, run):
    out = run(_damaged(events))
    (record,) = out.of("DAMAGED")
    assert (record["status"], record["severity"], record["facility_id"]) == (
        "OPEN",
        "MEDIUM",
        "A-HUB",
    )
    (ticket,) = out.tickets
    assert (ticket["department"], ticket["priority"]) == ("CLAIMS", "P2")
    (note,) = out.notifications
    assert note["exception_id"] == record["exception_id"]


def test_insured_or_major_damage_is_p1(events, run):
    out = run(_damaged(events, insured=300))
    assert out.tickets[0]["priority"] == "P1"


def test_major_damage_is_p1(events, run):
    out = run(_damaged(events, reason="MAJOR"))
    assert out.tickets[0]["priority"] == "P1"
    assert out.of("DAMAGED")[0]["severity"] == "HIGH"


def test_worse_damage_escalates_once_and_delivery_leaves_it_open(events, run):
    _damaged(events)
    events.scan("DAMAGE_REPORTED", "B-HUB", 8, reason="DESTROYED")
    events.scan("DAMAGE_REPORTED", "B-HUB", 9, reason="MINOR")  # not worse: no update
    events.scan("HUB_ARRIVAL", "C-OUT", 15).scan("DELIVERED", "C-OUT", 16)
    out = run(events)
    records = out.of("DAMAGED")
    assert [(r["status"], r["severity"]) for r in records] == [
        ("OPEN", "MEDIUM"),
        ("UPDATED", "CRITICAL"),
    ]
    tickets = [t for t in out.tickets if t["type"] == "DAMAGED"]
    assert [(t["status"], t["priority"]) for t in tickets] == [("OPEN", "P2"), ("UPDATED", "P1")]
    assert len({t["ticket_id"] for t in tickets}) == 1
    notes = [n for n in out.notifications if n["type"] == "DAMAGED"]
    assert len(notes) == 2  # the escalation may send one more
    assert len({n["notification_id"] for n in notes}) == 2


def test_damage_reported_after_delivery_still_opens(events, run):
    events.waybill(promised=200).journey()
    events.scan("DAMAGE_REPORTED", "C-OUT", 18, reason="MAJOR")
    assert run(events).statuses("DAMAGED") == ["OPEN"]
