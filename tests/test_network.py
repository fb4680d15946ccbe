import random

import pytest
from conftest import NETWORK_YAML

from stream.network import Network, NetworkError, haversine_m, local_distance_m


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

    net = Network.load(files("stream") / "data" / "network.yaml")
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

    monkeypatch.setattr("stream.network.local_distance_m", counting)
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
