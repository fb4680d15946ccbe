"""The watchdog: a partition behind its end that stops moving is sought back."""

from parcelwatch.service.watchdog import Gaps, Watchdog

S1, S2 = ("scans", 1), ("scans", 2)


def make(positions: dict, highwaters: dict) -> Watchdog:
    return Watchdog(lambda: list(highwaters), positions.get, highwaters.get, stuck_s=15)


def test_a_partition_behind_its_end_that_does_not_move_is_sought_back_to_its_next_offset():
    positions, highwaters = {S1: 7, S2: 10}, {S1: 10, S2: 10}
    dog = make(positions, highwaters)
    assert dog.stuck(0.0) == []  # first seen behind: give it time
    assert dog.stuck(14.9) == []
    assert dog.stuck(15.0) == [(S1, 7)]  # S2 is at its end: nothing missing there
    assert dog.stuck(20.0) == []  # sought: another stuck_s before the next try
    assert dog.stuck(30.0) == [(S1, 7)]


def test_a_partition_that_moves_or_catches_up_is_left_alone():
    positions, highwaters = {S1: 7}, {S1: 10}
    dog = make(positions, highwaters)
    dog.stuck(0.0)
    positions[S1] = 8  # slow, not stuck: its clock starts again
    assert dog.stuck(15.0) == []
    assert dog.stuck(29.0) == []
    positions[S1] = 10  # read to its end
    assert dog.stuck(100.0) == []
    highwaters[S1] = 12  # new records: behind again, from now
    assert dog.stuck(101.0) == [] and dog.stuck(116.0) == [(S1, 10)]


def test_a_partition_never_read_nor_committed_is_sought_to_its_start():
    """After a restart, a partition with records that the consumer never fetched from
    held the event clock until its bound, and its records were never read."""
    dog = make({S1: None}, {S1: 284})
    assert dog.stuck(0.0) == [] and dog.stuck(16.0) == [(S1, 0)]


def test_nothing_is_sought_while_an_end_is_unknown_or_after_a_rebalance():
    positions, highwaters = {S1: 3}, {S1: None}
    dog = make(positions, highwaters)
    assert dog.stuck(0.0) == [] and dog.stuck(100.0) == []
    highwaters[S1] = 10
    dog.stuck(100.0)
    dog.reset()  # a rebalance: Faust seeks to the commits itself
    assert dog.stuck(115.0) == []  # counted from after the rebalance
    assert dog.stuck(130.0) == [(S1, 3)]


def test_a_record_past_a_hole_waits_until_the_partition_is_read_again_from_the_hole():
    positions = {S1: 1752}
    gaps = Gaps(positions.get)
    assert gaps.admit(S1, 1752)
    positions[S1] = 1753
    assert not gaps.admit(S1, 1854)  # 1753-1853 never delivered: hold it back
    assert not gaps.admit(S1, 1855)
    assert gaps.to_seek() == [(S1, 1753)]
    assert gaps.to_seek() == []  # sought once
    assert not gaps.admit(S1, 1856)  # still buffered from before the seek
    assert gaps.admit(S1, 1753)  # read again from the hole
    positions[S1] = 1754
    assert gaps.admit(S1, 1754)
    assert gaps.to_seek() == []


def test_a_hole_the_log_really_has_is_accepted_after_one_seek():
    positions = {S1: 10}
    gaps = Gaps(positions.get)
    assert not gaps.admit(S1, 12)  # 10 and 11: a transaction's commit marker, say
    assert gaps.to_seek() == [(S1, 10)]
    assert not gaps.admit(S1, 13)  # buffered before the seek
    assert gaps.admit(S1, 12)  # the seek brought 12 first again: nothing is missing
    positions[S1] = 13
    assert gaps.admit(S1, 13)


def test_on_a_topic_written_in_transactions_commit_markers_are_no_hole():
    """Four producers in transactions: up to four markers between two records read
    committed; a wider hole (an aborted transaction, a lapse) is sought as before."""
    gaps = Gaps({S1: 10, S2: 10}.get, markers={S1[0]: 4})
    assert gaps.admit(S1, 11)  # one marker at 10
    assert gaps.admit(S1, 16)  # four at 12-15
    assert not gaps.admit(S1, 22)  # five at 17-21: read again from 17
    assert gaps.to_seek() == [(S1, 17)]
    other = Gaps({S2: 10}.get)
    assert not other.admit(S2, 11)  # any other topic: every hole is sought


def test_records_read_again_and_partitions_never_committed_are_admitted():
    positions: dict = {S1: 50}
    gaps = Gaps(positions.get)
    assert gaps.admit(S1, 40)  # a re-read after a rebalance: harmless
    assert gaps.admit(S2, 7)  # nothing processed nor committed: wherever it starts
    assert gaps.to_seek() == []


def test_the_records_of_one_batch_follow_on_before_any_is_done():
    gaps = Gaps({S1: 5}.get)  # the position moves only once a batch is done
    assert [gaps.admit(S1, o) for o in (5, 6, 7, 9)] == [True, True, True, False]
    assert gaps.to_seek() == [(S1, 8)]
    gaps.reset()  # a rebalance: from the commit again
    assert gaps.admit(S1, 5)
