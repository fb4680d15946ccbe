"""The watchdog: a partition behind its end that stops moving is sought back."""

from stream.agents.watchdog import Watchdog

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


def test_nothing_is_sought_while_a_position_or_end_is_unknown_or_after_a_rebalance():
    positions, highwaters = {S1: None}, {S1: 10}
    dog = make(positions, highwaters)
    assert dog.stuck(0.0) == [] and dog.stuck(100.0) == []
    positions[S1] = 3
    dog.stuck(100.0)
    dog.reset()  # a rebalance: Faust seeks to the commits itself
    assert dog.stuck(115.0) == []  # counted from after the rebalance
    assert dog.stuck(130.0) == [(S1, 3)]
