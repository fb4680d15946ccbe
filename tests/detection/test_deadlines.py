from hypothesis import given
from hypothesis import strategies as st

from parcelwatch.clock import EventClock, iso, to_us
from parcelwatch.detection.deadlines import DeadlineQueue


def test_pops_in_deadline_order_and_only_when_due():
    q = DeadlineQueue()
    q.schedule("b", 20)
    q.schedule("a", 10)
    q.schedule("c", 30)
    assert q.pop_due(5) is None
    assert q.pop_due(25) == (10, "a")
    assert q.pop_due(25) == (20, "b")
    assert q.pop_due(25) is None
    assert len(q) == 1


def test_moving_a_deadline_later_and_earlier_and_clearing():
    q = DeadlineQueue()
    q.schedule("k", 10)
    q.schedule("k", 50)  # later: no new heap entry needed
    assert q.pop_due(20) is None
    assert q.pop_due(50) == (50, "k")
    q.schedule("k", 40)
    q.schedule("k", 15)  # earlier
    assert q.pop_due(20) == (15, "k")
    assert q.pop_due(100) is None  # the stale 40 entry is gone with the key
    q.schedule("k", 5)
    q.schedule("k", None)
    assert q.pop_due(100) is None and len(q) == 0


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.one_of(st.none(), st.integers(0, 100)))))
def test_behaves_like_a_dict_of_deadlines(ops):
    q = DeadlineQueue()
    model = {}
    for key, when in ops:
        q.schedule(key, when)
        if when is None:
            model.pop(key, None)
        else:
            model[key] = when
    popped = []
    while (item := q.pop_due(1000)) is not None:
        popped.append(item)
    assert popped == sorted((w, k) for k, w in model.items())


def test_event_clock_never_goes_back():
    clock = EventClock()
    assert clock.advance(10) == 10
    assert clock.advance(5) == 10
    assert clock.advance(12) == 12


def test_time_round_trip_is_exact():
    from datetime import datetime

    moment = datetime.fromisoformat("2026-11-20T09:00:00.123456+08:00")
    assert iso(to_us(moment)) == "2026-11-20T01:00:00.123456+00:00"


def test_bring_forward_only_moves_a_deadline_earlier():
    q = DeadlineQueue()
    q.bring_forward("a", 50)  # none yet: set
    q.bring_forward("a", 80)  # later: kept at 50
    q.schedule("b", 100)
    q.bring_forward("b", 30)  # earlier: moved
    assert q.peek() == 30
    assert [q.pop_due(1000), q.pop_due(1000), q.pop_due(1000)] == [(30, "b"), (50, "a"), None]


def test_count_due_counts_live_deadlines_only():
    q = DeadlineQueue()
    for i in range(10):
        q.schedule(f"k{i}", 100 + i)
    q.schedule("k0", 500)  # moved later: its old entry is dead
    q.schedule("k1", None)  # cancelled
    assert q.count_due(104) == 3  # k2, k3, k4
    assert q.count_due(99) == 0
    assert q.count_due(10**9) == 9
