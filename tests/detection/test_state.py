"""Waybill state helpers."""

from array import array

from parcelwatch.detection.state import find_event


def test_an_event_id_is_found_only_among_ids_not_contents():
    events = array("Q", [10, 7, 7, 3, 99, 10])  # ids 10, 7, 99; contents 7, 3, 10
    assert find_event(events, 10) == 0
    assert find_event(events, 7) == 2  # not the content at 1
    assert find_event(events, 99) == 4
    assert find_event(events, 3) == -1  # a content only
    assert find_event(events, 5) == -1
