import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcelwatch.network.graph import (
    _M_PER_DEG_LAT,
    Network,
    NetworkError,
    haversine_m,
    local_distance_m,
)
from tests.support.streams import NETWORK_YAML


def test_shortest_paths_and_next_hops(network):
    assert network.shortest_path("A-OUT", "C-OUT") == ("A-OUT", "A-HUB", "B-HUB", "C-HUB", "C-OUT")
    assert network.hours_to("A-OUT", "C-OUT") == 10
    assert network.next_hop("X-HUB", "C-OUT") == "B-HUB"
    assert network.leg_hours("A-HUB", "C-HUB") == 8  # no direct lane: fastest path
    assert network.route_profile(("A-OUT", "A-HUB", "B-HUB")) == (5.0, 4.0, 0.0)


def test_oneway_lanes_are_respected():
    net = Network.from_yaml_text(
        NETWORK_YAML + "  - {from: A-OUT, to: C-OUT, hours: 2, oneway: true}\n"
    )
    assert net.hours_to("A-OUT", "C-OUT") == 2
    assert net.hours_to("C-OUT", "A-OUT") == 10


def test_nearest_within_radius(network):
    fac, dist = network.nearest(22.701, 114.101, 1000)
    assert fac.id == "A-HUB" and dist < 200
    assert network.nearest(23.3, 114.05, 2000) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("facilities: []", "facilities"),
        ("[1, 2]", "mapping"),
        (
            "facilities: [{id: A, name: a, kind: depot, city: c, lat: 1, lon: 2}]",
            r"facilities\[0\]\.kind",
        ),
        (
            "facilities: [{id: A, name: a, kind: hub, city: c, lat: 100, lon: 2}]",
            r"facilities\[0\]\.lat",
        ),
        (
            "facilities: [{id: A, name: a, kind: hub, city: c, lat: 1, lon: 2}, "
            "{id: A, name: b, kind: hub, city: c, lat: 1, lon: 2}]",
            r"facilities\[1\]: duplicate id 'A'",
        ),
        (
            "facilities: [{id: A, name: a, kind: hub, city: c, lat: 1, lon: 2}]\n"
            "lanes: [{from: A, to: B, hours: 1}]",
            r"lanes\[0\]: unknown facility 'B'",
        ),
        (
            "facilities: [{id: A, name: a, kind: hub, city: c, lat: 1, lon: 2}, "
            "{id: B, name: b, kind: hub, city: c, lat: 1, lon: 2}]\n"
            "lanes: [{from: A, to: B, hours: 0}]",
            r"lanes\[0\]\.hours",
        ),
        ("facilities: [{id: A, name: a}", "not valid YAML"),
    ],
)
def test_bad_network_files_name_the_bad_entry(text, message):
    with pytest.raises(NetworkError, match=message):
        Network.from_yaml_text(text, source="net.yaml")


def test_unreadable_file(tmp_path):
    with pytest.raises(NetworkError, match="cannot read"):
        Network.load(tmp_path / "missing.yaml")


def test_bundled_default_network_is_valid():
    from importlib.resources import files

    net = Network.load(files("parcelwatch") / "data" / "network.yaml")
    hubs = [f for f in net.facilities.values() if f.is_hub]
    assert len(hubs) >= 25
    for hub in hubs:  # every hub city has >= 2 outlets, all connected
        outlets = [f for f in net.facilities.values() if f.city == hub.city and not f.is_hub]
        assert len(outlets) >= 2
    ids = list(net.facilities)
    assert all(net.hours_to(a, ids[0]) is not None for a in ids)


def test_nearest_agrees_with_brute_force_on_thousands_of_facilities():
    rng = random.Random(7)
    facilities = "\n".join(
        f"  - {{id: F{i}, name: f, kind: outlet, city: c, "
        f"lat: {rng.uniform(20, 45):.5f}, lon: {rng.uniform(100, 125):.5f}}}"
        for i in range(5000)
    )
    net = Network.from_yaml_text("facilities:\n" + facilities)
    for _ in range(100):
        lat, lon = rng.uniform(20, 45), rng.uniform(100, 125)
        best = min(net.facilities.values(), key=lambda f: haversine_m(lat, lon, f.lat, f.lon))
        d = haversine_m(lat, lon, best.lat, best.lon)
        found = net.nearest(lat, lon, 50_000)
        if d <= 50_000:
            assert found is not None and found[0].id == best.id
        else:
            assert found is None


def test_nearest_looks_at_a_few_cells_not_every_facility(monkeypatch):
    rng = random.Random(3)
    facilities = "\n".join(
        f"  - {{id: F{i}, name: f, kind: outlet, city: c, "
        f"lat: {rng.uniform(20, 45):.5f}, lon: {rng.uniform(100, 125):.5f}}}"
        for i in range(5000)
    )
    net = Network.from_yaml_text("facilities:\n" + facilities)
    calls = 0
    real = local_distance_m

    def counting(*args):
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr("parcelwatch.network.graph.local_distance_m", counting)
    for _ in range(200):
        net.nearest(rng.uniform(20, 45), rng.uniform(100, 125), 2000)
    assert calls / 200 < 5  # 5000 facilities, but only those in nearby cells are measured


def test_local_distance_agrees_with_the_great_circle_nearby():
    for lat in (0.0, 23.0, 45.0, 60.0):
        for dlat, dlon in ((0.001, 0.0), (0.0, 0.01), (0.01, 0.01), (0.2, -0.1)):
            exact = haversine_m(lat, 114.0, lat + dlat, 114.0 + dlon)
            assert (
                abs(local_distance_m(lat, 114.0, lat + dlat, 114.0 + dlon) - exact) < exact * 1e-3
            )


def test_unknown_keys_in_the_network_file_are_ignored():
    net = Network.from_yaml_text(
        "name: test\nfacilities:\n"
        "  - {id: 深圳-1, name: a, kind: hub, city: c, lat: 1, lon: 2, province: 广东}\n"
    )
    assert "深圳-1" in net


PLANNED = """
facilities:
  - {id: O, name: o, kind: outlet, city: c, lat: 1, lon: 1, handling_hours: 1,
     delivery_window: ["08:00", "18:00"], tz: Asia/Tokyo}
  - {id: H, name: h, kind: hub, city: c, lat: 1.1, lon: 1.1}
  - {id: G, name: g, kind: hub, city: d, lat: 2, lon: 2}
lanes:
  - {from: O, to: H, hours: 1}
  - {from: H, to: G, hours: 5, oneway: true}
schedules:
"""


def test_planning_data_is_loaded():
    net = Network.from_yaml_text(
        PLANNED
        + '  - {from: H, to: G, departures: ["15:00", "03:00", "03:00"]}\n'
        + '  - {from: H, to: O, departures: ["07:00"]}\n'
    )
    outlet, hub = net.facilities["O"], net.facilities["H"]
    assert (outlet.tz, outlet.handling_hours, outlet.window.label()) == (
        "Asia/Tokyo",
        1,
        ["08:00", "18:00"],
    )
    assert (hub.tz, hub.handling_hours, hub.window) == ("Asia/Shanghai", None, None)
    assert net.schedules[("H", "G")].minutes == (180, 900)  # sorted, repeats merged
    assert set(net.schedules) == {("H", "G"), ("H", "O")}  # O -> H leaves when ready


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ('{from: O, to: G, departures: ["03:00"]}', r"schedules\[0\]: O -> G is not a lane"),
        (
            '{from: G, to: H, departures: ["03:00"]}',
            r"schedules\[0\]: G -> H runs against a oneway lane",
        ),
        ('{from: H, to: X, departures: ["03:00"]}', r"schedules\[0\]: unknown facility 'X'"),
        (
            '{from: H, to: G, departures: ["3pm"]}',
            r"schedules\[0\]\.departures\[0\]: '3pm' is not a clock time HH:MM",
        ),
        ('{from: H, to: G, departures: ["24:00"]}', "not a clock time"),
        ("{from: H, to: G, departures: []}", r"schedules\[0\]\.departures"),
        (
            '{from: H, to: G, departures: ["03:00"]}\n  - {from: H, to: G, departures: ["04:00"]}',
            r"schedules\[1\]: a second timetable for H -> G",
        ),
    ],
)
def test_bad_schedules_are_one_clear_line(schedule, message):
    with pytest.raises(NetworkError, match=message) as info:
        Network.from_yaml_text(PLANNED + f"  - {schedule}\n", source="net.yaml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("net.yaml: ")


@pytest.mark.parametrize(
    ("facility", "message"),
    [
        ("tz: Mars/Olympus", r"facilities\[0\]\.tz: unknown IANA time zone 'Mars/Olympus'"),
        ("tz: Asia", "unknown IANA time zone 'Asia'"),
        ("kind: hub, delivery_window: ['08:00', '18:00']", "belongs to an outlet, not a hub"),
        ("delivery_window: ['08:00', '08:00']", "delivery_window 08:00-08:00 is empty"),
        ("delivery_window: ['00:00', '24:00'], handling_hours: -1", r"handling_hours"),
        ("delivery_window: ['8:00', '18:00']", r"delivery_window\[0\]: '8:00' is not a clock"),
        ("delivery_window: ['08:00']", r"delivery_window"),
    ],
)
def test_bad_facility_planning_data_is_one_clear_line(facility, message):
    text = (
        f"facilities:\n  - {{id: O, name: o, kind: outlet, city: c, lat: 1, lon: 1, {facility}}}\n"
    )
    with pytest.raises(NetworkError, match=message) as info:
        Network.from_yaml_text(text, source="net.yaml")
    assert "\n" not in str(info.value)


def test_replay_refuses_a_bad_timetable_with_one_line(tmp_path):
    import subprocess
    import sys

    net = tmp_path / "net.yaml"
    net.write_text(PLANNED + '  - {from: O, to: G, departures: ["03:00"]}\n', encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "parcelwatch",
            "replay",
            "--network",
            str(net),
            "--input",
            str(events),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"parcelwatch replay: {net}: schedules[0]: O -> G is not a lane"
    ]


@settings(max_examples=100, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(-60, 60), st.floats(-179, 179)), min_size=1, max_size=30),
    probe=st.tuples(st.floats(-60, 60), st.floats(-179, 179)),
    near=st.tuples(st.floats(0, 1.2), st.floats(0, 2 * math.pi)),
    beside=st.booleans(),
    radius=st.floats(50, 20_000),
)
def test_nearest_is_the_brute_force_answer_at_any_radius(points, probe, near, beside, radius):
    """The grid answers exactly what measuring every facility answers, whatever the
    radius (cells grow with it) and the latitude (a degree of longitude shrinks)."""
    facilities = "\n".join(
        f"  - {{id: F{i}, name: f, kind: outlet, city: c, lat: {lat!r}, lon: {lon!r}}}"
        for i, (lat, lon) in enumerate(points)
    )
    net = Network.from_yaml_text("facilities:\n" + facilities)
    # half the probes land around a facility, up to 1.2 radii away in any direction:
    # where the answer is not "nothing", and where a cell too small would miss it
    lat, lon = probe
    if beside:
        (lat0, lon0), (share, bearing) = points[0], near
        lat = lat0 + share * radius * math.cos(bearing) / _M_PER_DEG_LAT
        lon = lon0 + share * radius * math.sin(bearing) / (
            _M_PER_DEG_LAT * math.cos(math.radians(lat0))
        )
    within = [
        (local_distance_m(lat, lon, f.lat, f.lon), f.id)
        for f in net.facilities.values()
        if local_distance_m(lat, lon, f.lat, f.lon) <= radius
    ]
    found = net.nearest(lat, lon, radius)
    if not within:
        assert found is None
    else:
        assert found is not None and found[1] == min(within)[0]


@pytest.mark.parametrize("lat0", [0.0, 23.0, 45.0, 60.0, 75.0])
@pytest.mark.parametrize("radius", [1_000.0, 20_000.0])
def test_nearest_finds_a_facility_just_inside_the_radius_in_every_direction(lat0, radius):
    """At the rim of the radius, where a degree of longitude is short, every bearing."""
    net = Network.from_yaml_text(
        f"facilities:\n  - {{id: F0, name: f, kind: outlet, city: c, lat: {lat0}, lon: 10.01}}"
    )
    for degrees in range(0, 360, 10):
        bearing = math.radians(degrees)
        for share, inside in ((0.995, True), (1.01, False)):
            lat = lat0 + share * radius * math.cos(bearing) / _M_PER_DEG_LAT
            lon = 10.01 + share * radius * math.sin(bearing) / (
                _M_PER_DEG_LAT * math.cos(math.radians((lat0 + lat) / 2))
            )
            found = net.nearest(lat, lon, radius)
            assert (found is not None) is inside, (degrees, share)
