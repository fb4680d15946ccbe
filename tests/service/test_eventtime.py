"""The event clock's invariants (parcelwatch/service/eventtime.py), on a plain object with a fake
wall clock: watermarks per partition, idleness, and marks from the vehicle side to the
waybill side."""

from parcelwatch.service.eventtime import (
    LiveClock,
    Mark,
    SystemClock,
    Upstream,
    WatermarkClock,
    wall_us,
)


def test_low_watermark_waits_for_every_partition():
    clock = WatermarkClock(idle_s=60)
    clock.assign({("scans", 0), ("scans", 1)})
    clock.observe(("scans", 0), 100)
    assert clock.now("scans") is None  # partition 1 not heard from yet
    clock.observe(("scans", 1), 50)
    assert clock.now("scans") == 50
    clock.observe(("scans", 1), 500)
    assert clock.now("scans") == 100
    clock.forget({("scans", 0)})
    assert clock.now("scans") == 500


def test_idle_partitions_hold_nothing_back():
    clock = WatermarkClock(idle_s=0)
    clock.assign({("gps", 0), ("gps", 1)})
    clock.observe(("gps", 0), 100)
    assert clock.now("gps") == 100  # all idle: everything is read, time is the latest


def _vehicle_side(partitions=2) -> LiveClock:
    clock = WatermarkClock(idle_s=60, partitions=partitions)
    clock.assign({("gps", p) for p in range(partitions)})
    return clock


def test_marks_cover_only_what_was_sent_and_stop_at_the_horizon():
    vehicles = _vehicle_side()
    vehicles.observe(("gps", 0), 100)
    vehicles.observe(("gps", 1), 300)
    assert vehicles.marks("gps", None) == [Mark(0, None, 100), Mark(1, None, 300)]
    vehicles.confirm(("gps", 0))
    vehicles.confirm(("gps", 1))
    assert vehicles.marks("gps", None) == [Mark(0, 100, 100), Mark(1, 300, 300)]
    assert vehicles.marks("gps", 199) == [Mark(0, 100, 100), Mark(1, 199, 300)]


def test_an_idle_vehicle_side_releases_its_deadlines_and_waits_for_nobody():
    """The vehicle side's time is its own GPS. With a GPS partition read to its end and
    quiet, its vehicles' deadlines may fire as far as this worker's inputs have got (the
    scans move time on, as replay's one clock does), and all of them once everything it
    reads is idle: its marks never wait for a time no GPS input will bring."""
    wall = FakeWall()
    clock = WatermarkClock(idle_s=5, partitions=2, wall=wall)
    clock.assign({("gps", 0), ("gps", 1), ("scans", 0)})
    clock.observe(("gps", 0), 100)
    clock.observe(("gps", 1), 300)
    clock.confirm(("gps", 0))
    assert clock.now("gps") == 100 and clock.released("gps") == (set(), 0)
    assert clock.marks("gps", 299) == [Mark(0, 100, 100), Mark(1, None, 300)]
    wall.pass_s(5)
    clock.observe(("scans", 0), 700)  # the scans go on
    assert clock.released("gps") == ({0, 1}, 700)
    assert clock.now("gps") == 300  # all GPS idle: the latest read
    assert clock.marks("gps", 299) == [Mark(0, 299, 100), Mark(1, 299, 300)]  # a deadline at 300
    assert clock.marks("gps", None) == [Mark(0, 100, 100, idle=True), Mark(1, None, 300, idle=True)]
    wall.pass_s(5)
    assert clock.released("gps") == ({0, 1}, None)  # nothing more to read at all
    assert SystemClock().released("gps") == (set(), 0)


def test_the_waybill_side_waits_for_marks_from_every_vehicle_partition():
    waybills = WatermarkClock(idle_s=60, partitions=2)
    waybills.assign({("scans", 0), ("facts", 0), ("facts", 1)}, frozenset({"facts"}))
    waybills.observe(("scans", 0), 1000)
    assert not waybills.upstream_reached("facts", 10)  # no marks yet
    assert waybills.waybill_now(("scans",), "facts") is None
    for facts in (0, 1):
        waybills.mark(("facts", facts), [Mark(0, 400, 400)])
    assert not waybills.upstream_reached("facts", 10)  # gps partition 1 not reported
    waybills.mark(("facts", 0), [Mark(1, 200, 200)])
    assert not waybills.upstream_reached("facts", 10)  # ... not on facts partition 1
    waybills.mark(("facts", 1), [Mark(1, 250, 250)])
    assert waybills.upstream_reached("facts", 200)
    assert not waybills.upstream_reached("facts", 201)
    assert waybills.waybill_now(("scans",), "facts") == 200  # min(scans 1000, vehicles 200)
    for facts in (0, 1):  # the vehicle side is idle
        waybills.mark(
            ("facts", facts), [Mark(0, 400, 400, idle=True), Mark(1, 500, 500, idle=True)]
        )
    assert waybills.upstream_reached("facts", 10**9)
    assert waybills.waybill_now(("scans",), "facts") == 1000


class FakeWall:
    """The wall clock in µs, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now

    def pass_s(self, seconds: float) -> None:
        self.now += round(seconds * 1_000_000)


def test_a_partition_is_idle_only_when_quiet_and_caught_up():
    lagging = {("scans", 1)}
    wall = FakeWall()
    clock = WatermarkClock(idle_s=5, caught_up=lambda source: source not in lagging, wall=wall)
    clock.assign({("scans", 0), ("scans", 1)})
    clock.observe(("scans", 0), 500)
    clock.observe(("scans", 1), 100)
    wall.pass_s(4.9)
    lagging.clear()
    assert clock.now("scans") == 100  # not quiet long enough yet
    lagging.add(("scans", 1))
    wall.pass_s(0.2)
    # Partition 1 is quiet but not caught up (its agent is busy elsewhere): it holds.
    assert clock.now("scans") == 100
    lagging.clear()
    assert clock.now("scans") == 500


def test_the_wall_clock_holds_nothing():
    clock = SystemClock()
    assert clock.upstream_reached("facts", 10**18)
    before = wall_us()
    assert clock.now("gps") >= before and clock.waybill_now(("scans",), "facts") >= before


def test_an_idle_mark_from_a_sender_gone_quiet_covers_only_what_it_had_read():
    """A worker that said "idle" and then died (or lost the partition) keeps no promise
    about later input: its stale mark degrades to its latest, until the new owner reports."""
    wall = FakeWall()
    waybills = WatermarkClock(idle_s=60, partitions=1, stale_s=5, wall=wall)
    waybills.assign({("scans", 0), ("facts", 0)}, frozenset({"facts"}))
    waybills.mark(("facts", 0), [Mark(0, 400, 400, idle=True)], at=wall())
    wall.pass_s(5)
    assert waybills.upstream("facts") == Upstream(None, 400)  # fresh: nothing held back
    wall.pass_s(0.1)
    assert waybills.upstream("facts") == Upstream(400, 400)
    assert not waybills.upstream_reached("facts", 401)
    waybills.mark(("facts", 0), [Mark(0, None, None)], at=wall())  # the new owner
    assert waybills.upstream("facts") is None
    waybills.mark(
        ("facts", 0), [Mark(0, None, None, idle=True)], at=wall() - 10 * 10**6
    )  # read none
    assert waybills.upstream("facts") is None


def test_inputs_kept_aside_across_a_rebalance_count_as_read():
    """A partition revoked and assigned again (a fail-over) is read on from its commit,
    which is past inputs the waybill side set aside in its table. Restored from there,
    they move the partition's watermark as they did when first read: without them a
    stream that ends with inputs aside holds both sides short of those inputs."""
    clock = WatermarkClock(idle_s=0)
    clock.assign({("scans", 0), ("scans", 1)})
    clock.observe(("scans", 0), 100)
    clock.observe(("scans", 1), 500)  # set aside
    clock.forget({("scans", 0), ("scans", 1)})
    clock.assign({("scans", 0), ("scans", 1)})
    clock.observe(("scans", 0), 100)  # read again past the commit
    assert clock.now("scans") == 100  # all idle: the latest read, not the one aside
    clock.restore(("scans", 1), 500)
    clock.restore(("scans", 2), 900)  # a standby's: another worker's to report
    assert clock.now("scans") == 500
    assert [m.partition for m in clock.marks("scans", None)] == [0, 1]


def test_marks_go_over_the_wire_and_read_an_older_version():
    from parcelwatch.service.wire import decode_marks, encode_marks

    marks = [Mark(0, 100, 120), Mark(1, None, None), Mark(2, 5, 9, idle=True)]
    assert decode_marks(encode_marks(marks, 77)) == (marks, 77)
    assert Mark.from_wire([3, 2**62, 40]) == Mark(3, None, 40, idle=True)  # idle, as it was
    assert Mark.from_wire([3, 30, 40]) == Mark(3, 30, 40)
    assert decode_marks(b'["V1","OK"]') is None  # a fact


def test_orders_and_scans_wait_for_each_other_until_read_that_far_or_idle():
    """Invariant 6: a parcel's order and scans come on two topics read at their own
    speeds; an input at T is applied once the other topic has been read to T."""
    wall = FakeWall()
    clock = WatermarkClock(idle_s=5, wall=wall)
    clock.assign({("orders", 0), ("scans", 0)})
    clock.observe(("scans", 0), 100)
    assert not clock.reached(("orders",), 100)  # not heard from: it may bring anything
    clock.observe(("orders", 0), 50)
    assert clock.reached(("scans",), 50) and clock.reached(("scans",), 100)
    assert not clock.reached(("orders",), 51) and clock.reached(("orders",), 50)
    wall.pass_s(5)  # quiet (and, with no caught_up to ask, read to its end)
    assert clock.reached(("orders",), 10**15)
    wall_clock = SystemClock()
    assert wall_clock.reached(("orders",), 10**15)  # the wall clock waits for nothing


def test_a_partition_behind_its_end_that_delivers_nothing_holds_time_only_so_long():
    """Invariant 7: a consumer that stopped delivering a partition holds the watermark
    for `wait_max_s` after the last recovery, then is counted idle (and says so)."""
    wall = FakeWall()
    clock = WatermarkClock(idle_s=5, caught_up=lambda source: False, wall=wall, wait_max_s=60)
    clock.assign({("scans", 0), ("scans", 1)})
    clock.observe(("scans", 0), 500)
    clock.observe(("scans", 1), 100)
    wall.pass_s(59)
    assert clock.now("scans") == 100
    clock.resumed()  # a rebalance's recovery just ended: the bound starts again
    wall.pass_s(59)
    assert clock.now("scans") == 100
    wall.pass_s(2)
    assert clock.now("scans") == 500  # both counted idle: the latest read


def test_a_vehicle_partition_that_never_reports_holds_the_waybill_side_only_so_long():
    wall = FakeWall()
    waybills = WatermarkClock(idle_s=60, partitions=2, wall=wall, wait_max_s=60)
    waybills.assign({("scans", 0), ("facts", 0)}, frozenset({"facts"}))
    waybills.mark(("facts", 0), [Mark(0, 400, 400)], at=wall())  # partition 1: nothing
    assert waybills.upstream("facts") is None
    assert waybills.waits_on() == [
        "scans/0: nothing read yet",
        "nothing read and no state restored: no time yet",
        "facts/0: no mark yet for the other side's partition 1",
    ]
    wall.pass_s(61)
    waybills.mark(("facts", 0), [Mark(0, 400, 400)], at=wall())
    assert waybills.upstream("facts") == Upstream(400, 400)  # partition 1 given up on
    assert waybills.upstream_reached("facts", 400) and not waybills.upstream_reached("facts", 401)


def test_a_restored_state_gives_time_once_all_is_read_never_the_low_watermark():
    """A worker whose input was all committed before it died reads nothing after the
    restart: its restored states say how far time had got. That holds only once every
    partition is idle; while one is read again its records may come before it."""
    wall = FakeWall()
    caught_up = {("gps", 0): False}
    clock = WatermarkClock(idle_s=5, caught_up=lambda s: caught_up[s], wall=wall)
    clock.assign({("gps", 0)})
    clock.restored_time(("gps", 0), 900)
    clock.restored_time(("gps", 7), 5_000)  # not this worker's partition: ignored
    wall.pass_s(6)
    assert clock.now("gps") is None  # behind its end: what comes may be earlier
    clock.observe(("gps", 0), 300)
    assert clock.now("gps") == 300
    caught_up[("gps", 0)] = True
    wall.pass_s(6)
    assert clock.now("gps") == 900  # all read and quiet: at least where the states were
