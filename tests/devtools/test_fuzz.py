"""`parcelwatch fuzz` finds what it is meant to find, and finds nothing on main."""

import pytest

from parcelwatch.devtools import fuzz
from parcelwatch.offline import replay


@pytest.fixture(scope="module")
def report(default_network_path, tmp_path_factory):
    return fuzz.run(default_network_path, 20_000, 5, tmp_path_factory.mktemp("fuzz"), parcels=40)


def test_twenty_thousand_hostile_lines_crash_nothing_and_lose_nothing(report):
    figures = report.to_json()
    assert figures["ok"], figures
    assert report.lines > 19_900 and report.mutated > 9_000
    assert set(report.mutations) == set(fuzz.MUTATIONS)
    assert report.applied > 5_000 and report.dead_letters > 5_000
    assert {"clock_jump", "event_id_conflict", "schema", "decode", "too_large"} <= set(
        report.reasons
    )


def test_a_line_lost_by_replay_is_found(default_network_path, tmp_path, monkeypatch):
    real = replay.read_lines

    def losing(handle, *args):
        for number, line in real(handle, *args):
            if number != 7:
                yield number, line

    monkeypatch.setattr(replay, "read_lines", losing)
    found = fuzz.run(default_network_path, 500, 5, tmp_path, parcels=5)
    assert found.unaccounted == 1 and not found.ok


def test_a_crash_is_reported_not_raised(default_network_path, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(fuzz, "replay", crash)
    found = fuzz.run(default_network_path, 200, 5, tmp_path, parcels=5)
    assert found.crashes == 1 and "OverflowError" in found.errors[0]
