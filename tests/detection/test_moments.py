"""The moments at which a parcel's ETA is logged, through the real replay."""

import json

from parcelwatch.offline.replay import replay
from tests.support.streams import Events


def test_replay_logs_the_eta_at_each_moment_of_the_journey(tmp_path, network_file):
    events = Events().waybill(promised=40)
    events.scan("PICKUP", "A-OUT", 1)
    events.scan("PICKUP", "A-OUT", 1.5)  # not the first pickup: no new moment
    events.scan("HUB_ARRIVAL", "A-HUB", 3)
    events.scan("HUB_ARRIVAL", "A-HUB", 3.5)  # every hub arrival is one
    events.journey(start=1)  # the whole journey again: redeliveries of times seen
    source = events.write(tmp_path / "events.jsonl")
    replay(network_file, source, tmp_path / "out", eta_out=tmp_path / "eta.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "eta.jsonl").read_text().splitlines()]
    assert [(x["moment"], x["at"][11:16]) for x in lines] == [
        ("created", "00:00"),
        ("pickup", "01:00"),
        ("hub_arrival", "03:00"),  # A-HUB
        ("hub_arrival", "03:30"),  # A-HUB again
        ("hub_arrival", "03:30"),  # the journey's own A-HUB scan, at the clock's time
        ("hub_arrival", "08:00"),  # B-HUB
        ("hub_arrival", "13:00"),  # C-HUB
        ("outlet_arrival", "15:00"),  # C-OUT, the destination
        ("out_for_delivery", "16:00"),
    ]  # and nothing once delivered
    assert {x["waybill_no"] for x in lines} == {"WB1"} and {x["model"] for x in lines} == {
        "planned"
    }
    etas = [x["eta"] for x in lines]
    assert all(eta is not None and eta.endswith("+00:00") for eta in etas)
    # Each later moment knows more: out for delivery, the ETA is the round's end.
    assert etas[-1] >= lines[-1]["at"]


def test_replay_without_eta_out_writes_no_log(tmp_path, network_file):
    source = Events().waybill().journey().write(tmp_path / "events.jsonl")
    replay(network_file, source, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dead_letters.jsonl",
        "exceptions.jsonl",
        "notifications.jsonl",
        "tickets.jsonl",
    ]
