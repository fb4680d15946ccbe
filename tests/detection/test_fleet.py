"""The waybill side's view of the vehicles: facts remembered, riders indexed."""

from hypothesis import given
from hypothesis import strategies as st

from parcelwatch.detection.fleet import HISTORY, Riders, condition_at, remember
from parcelwatch.detection.state import VehicleFact


def fact(at, status="OK", vehicle="T1"):
    return VehicleFact(vehicle, status, at, 23.0, 114.0, None, None, at)


def test_a_known_fact_is_not_remembered_twice():
    history = remember(None, fact(10))
    assert history == [fact(10)]
    assert remember(history, fact(10)) is None  # redelivered: not applied again
    assert remember(history, fact(10, "SILENT")) == [fact(10), fact(10, "SILENT")]


def test_history_is_bounded_and_in_time_order():
    history = None
    for at in [*range(100, 100 + 2 * HISTORY), 50]:
        history = remember(history, fact(at)) or history
    assert len(history) == HISTORY
    assert [f.at for f in history] == sorted(f.at for f in history)


def test_a_boarding_is_told_the_condition_then_and_everything_since():
    history = [fact(10, "OK"), fact(20, "STATIONARY"), fact(30, "OK"), fact(40, "SILENT")]
    assert condition_at(history, 25) == history[1:]
    assert condition_at(history, 40) == history[3:]
    assert condition_at(history, 5) == history  # boarded before the first fact
    assert condition_at(history, 99) == history[3:]
    assert condition_at(None, 5) == []


@given(st.lists(st.integers(0, 100), max_size=20), st.integers(0, 100))
def test_condition_at_is_the_latest_fact_up_to_then_and_all_later(times, at):
    history = sorted((fact(x) for x in set(times)), key=lambda f: f.at)
    told = condition_at(history, at)
    earlier = [f for f in history if f.at <= at]
    assert told == earlier[-1:] + [f for f in history if f.at > at]


def test_riders_are_capped_sorted_and_leave():
    riders = Riders(cap=2)
    assert riders.board("T1", "W2") is None
    assert riders.board("T1", "W1") is None
    assert riders.board("T1", "W1") is None  # already aboard: not a second seat
    refusal = riders.board("T1", "W3")
    assert refusal is not None and refusal.reason == "over_limit"
    assert riders.on("T1") == ["W1", "W2"]
    riders.leave("T1", "W2")
    riders.leave("T1", "W1")
    assert riders.on("T1") == [] and len(riders) == 0 and list(riders.vehicles()) == []
