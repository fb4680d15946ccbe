"""State survives the changelog: encode, decode, and carry on exactly as before."""

from hypothesis import HealthCheck, given, settings

from parcelwatch.detection.codec import (
    dump_vehicle,
    dump_waybill,
    load_vehicle,
    load_waybill,
    stored_schedule,
)
from parcelwatch.detection.detector import Detector
from tests.support.strategies import streams
from tests.support.streams import feed


def _half_and_half(network, stream, reload):
    detector = Detector(network)
    half = len(stream) // 2
    for record in stream[:half]:
        feed(detector, record)
    if reload:
        detector.waybills = {k: load_waybill(dump_waybill(w)) for k, w in detector.waybills.items()}
        detector.vehicles = {k: load_vehicle(dump_vehicle(v)) for k, v in detector.vehicles.items()}
    for record in stream[half:]:
        feed(detector, record)
    detector.advance((detector.clock.now or 0) + 10 * 86_400_000_000)
    return [(t, r.model_dump(mode="json")) for t, r in detector.outputs], detector


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_restored_state_continues_exactly(network, stream):
    plain, detector = _half_and_half(network, stream, reload=False)
    restored, _ = _half_and_half(network, stream, reload=True)
    assert restored == plain
    for w in detector.waybills.values():
        assert dump_waybill(load_waybill(dump_waybill(w))) == dump_waybill(w)
        assert stored_schedule(dump_waybill(w)) == (w.deadline, None)
        stored = dump_waybill(w, 3)  # the live side keeps the input partition beside it
        assert stored_schedule(stored) == (w.deadline, 3)
        assert dump_waybill(load_waybill(stored)) == dump_waybill(w)
    for v in detector.vehicles.values():
        assert dump_vehicle(load_vehicle(dump_vehicle(v))) == dump_vehicle(v)
        assert dump_vehicle(load_vehicle(dump_vehicle(v, 1))) == dump_vehicle(v)


def test_unknown_fields_from_a_newer_version_are_ignored():
    w = load_waybill(b'{"waybill_no": "W1", "failures": 2, "from_the_future": 1}')
    assert (w.waybill_no, w.failures) == ("W1", 2)


def test_event_ids_of_an_older_state_still_catch_redeliveries(network):
    from datetime import timedelta

    from parcelwatch.detection import ids
    from parcelwatch.detection.context import RuleContext
    from parcelwatch.detection.waybills import WaybillProcessor
    from parcelwatch.schemas import Scan
    from tests.support.streams import BASE

    scan = Scan(
        event_id="E1",
        waybill_no="W1",
        facility_id="A-HUB",
        scan_type="HUB_ARRIVAL",
        event_time=BASE + timedelta(hours=1),
    )
    old = load_waybill(b'{"waybill_no": "W1", "seen": [%d]}' % ids.event_digest("E1"))
    side = WaybillProcessor(RuleContext.create(network))
    assert side.admit(old, scan, 0) is None  # known id, content unknown: a redelivery
    assert side.admit(old, scan.model_copy(update={"event_id": "E2"}), 0) is not None
    assert load_waybill(dump_waybill(old)).events == old.events
