"""GpsBatch (CONTRACT §2): a terminal's buffered upload means exactly its pings sent one by
one; one bad ping refuses the whole batch."""

import random

import pytest

from tests.support.streams import Events, utc


def _pings(events: Events, vehicle: str, points: list[tuple[float, float, float]]) -> Events:
    for hours, lat, lon in points:
        events.gps(vehicle, hours, lat, lon)
    return events


def _batch(events: Events, vehicle: str, points, shuffle: int | None = None) -> Events:
    pings = [{"event_time": utc(h), "lat": lat, "lon": lon} for h, lat, lon in points]
    if shuffle is not None:
        random.Random(shuffle).shuffle(pings)
    return events.add("gps", {"vehicle_id": vehicle, "pings": pings})


# A truck on the road that stops for two hours, far from every facility.
ROAD = [(3 + i * 0.25, 23.0 + i * 0.05, 114.05) for i in range(4)] + [
    (4 + i * 0.25, 23.2, 114.05) for i in range(9)
]


@pytest.mark.parametrize("shuffle", [None, 1, 2])
def test_a_batch_means_its_pings_one_by_one(run, shuffle):
    def base():
        events = Events().waybill(promised=400)
        events.scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 2)
        events.scan("HUB_DEPARTURE", "A-HUB", 2.5, vehicle_id="T1", next_facility_id="B-HUB")
        return events

    one_by_one = run(_pings(base(), "T1", ROAD), until=8)
    batched = run(_batch(base(), "T1", ROAD, shuffle), until=8)
    assert one_by_one.statuses("STALLED_IN_TRANSIT") == ["OPEN"]
    assert batched.exceptions == one_by_one.exceptions
    assert batched.notifications == one_by_one.notifications
    assert batched.dead_letters == []


@pytest.mark.parametrize(
    ("ping", "reason"),
    [
        ({"event_time": "2099-01-01T00:00:00Z", "lat": 23, "lon": 114}, "clock_jump"),
        ({"event_time": utc(4), "lat": "23", "lon": 114}, "schema"),
        ({"event_time": utc(4), "lat": 91, "lon": 114}, "schema"),
    ],
)
def test_one_bad_ping_refuses_the_whole_batch(run, ping, reason):
    events = Events().waybill(promised=400).scan("PICKUP", "A-OUT", 1)
    good = [{"event_time": utc(2 + i * 0.1), "lat": 23.0, "lon": 114.0} for i in range(5)]
    events.add("gps", {"vehicle_id": "T1", "pings": [*good[:2], ping, *good[2:]]})
    events.add("gps", {"vehicle_id": "T1", "pings": good})  # the same, valid: applied
    out = run(events)
    assert [x["error"].split(":")[0] for x in out.dead_letters] == [reason]
    assert out.dead_letters[0]["line"] == 3


@pytest.mark.parametrize("size", [0, 501])
def test_a_batch_holds_one_to_five_hundred_pings(run, size):
    pings = [{"event_time": utc(1 + i / 1000), "lat": 23.0, "lon": 114.0} for i in range(size)]
    out = run(Events().waybill().add("gps", {"vehicle_id": "T1", "pings": pings}))
    assert [x["error"].split(":")[:2] for x in out.dead_letters] == [["schema", " pings"]]
