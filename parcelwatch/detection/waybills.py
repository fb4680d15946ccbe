"""The waybill side of the core: applies waybills, scans and vehicle signals to a
waybill's state, runs the rules, and turns their answers into episode records, tickets
and notifications.

Pure: state, input and `now` in; state, records, manifest changes and the next deadline
out. The Faust agent and `parcelwatch replay` both drive this class.
"""

from __future__ import annotations

from typing import Any

from parcelwatch.clock import HOUR, to_datetime, to_us
from parcelwatch.detection import ids, journal
from parcelwatch.detection.actions import notifications as notify
from parcelwatch.detection.actions import tickets as ticketing
from parcelwatch.detection.context import Candidate, RuleContext, last_scan_evidence
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.eta import eta_at, journey_end
from parcelwatch.detection.expected import expected_delivery
from parcelwatch.detection.rules import RULES, Rule, damage, missed_scan
from parcelwatch.detection.state import (
    DAMAGE_REPORTED,
    DELIVERY_FAILED,
    DEPARTING,
    HELD,
    LEAVING,
    MANIFEST_OFF,
    TERMINAL,
    UNKNOWN_CONTENT,
    VEHICLE_OK,
    Episode,
    ManifestChange,
    VehicleFact,
    WaybillState,
    find_event,
)
from parcelwatch.schemas import (
    ExceptionRecord,
    Notification,
    NotificationRecipient,
    Scan,
    Ticket,
    Waybill,
)

_STICKY_TYPES = frozenset(r.type for r in RULES if r.sticky)
_MAX_PENDING = 32


def _apply_fact(w: WaybillState, sig: VehicleFact) -> None:
    if w.sig_vehicle == sig.vehicle_id and w.sig_at is not None and sig.at < w.sig_at:
        return  # redelivered after a fail-over: the vehicle side sends in time order
    w.sig_at = sig.at
    w.sig_vehicle = sig.vehicle_id
    w.sig_status = sig.status
    w.sig_since = sig.since
    w.sig_lat = sig.lat
    w.sig_lon = sig.lon
    if sig.facility is not None:
        w.arr_vehicle = sig.vehicle_id
        w.arr_facility = sig.facility
        w.arr_at = sig.facility_since


Output = tuple[str, ExceptionRecord | Ticket | Notification]
"""(logical topic, record): topic is "exceptions", "tickets" or "notifications"."""


class WaybillStep:
    """What one input did: the state, records to publish in order, the vehicles it got
    on or off (for the index of riders, parcelwatch/detection/fleet.py), and the state's next
    deadline. `forgotten`: the parcel had been finished long enough to be forgotten
    (`forget_finished_after_hours`) before this input; `state` is then a new one."""

    __slots__ = ("forgotten", "manifest", "outputs", "state")

    def __init__(self, state: WaybillState) -> None:
        self.state = state
        self.outputs: list[Output] = []
        self.manifest: list[ManifestChange] = []
        self.forgotten = False

    @property
    def deadline(self) -> int | None:
        return self.state.deadline

    @property
    def gone(self) -> bool:
        """The state is to be deleted, not stored: forgotten, and nothing since."""
        w = self.state
        return self.forgotten and not w.registered and not w.events


class WaybillProcessor:
    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.network = ctx.network
        self._due_hours = {p: round(h * HOUR) for p, h in ctx.settings.ticket_due_hours.items()}
        self._rules = RULES
        # Once delivered or returned, only sticky rules (DAMAGED) can hold; an episode of
        # any other type that is still open must be resolved, so it stays in the list.
        self._sticky_rules = tuple(r for r in RULES if r.sticky)

    def _rules_for(self, w: WaybillState) -> tuple[Rule, ...]:
        if w.terminal is not None and not (w.episodes and w.episodes.keys() - _STICKY_TYPES):
            return self._sticky_rules
        return self._rules

    # -- inputs ------------------------------------------------------------------
    def register(self, w: WaybillState | None, wb: Waybill, now: int) -> WaybillStep:
        """Apply a Waybill (new or re-sent). Facility ids must be known to the network."""
        step, now = self._begin(w or WaybillState(wb.waybill_no), now)
        w = step.state
        w.late = None  # the promise, route or origin may change
        fac = self.network.facilities
        w.registered = True
        w.product = wb.product.value
        w.created_at = to_us(wb.created_at)
        w.origin = fac[wb.origin_facility_id].id
        w.destination = fac[wb.destination_facility_id].id
        w.route = tuple(fac[f].id for f in wb.planned_route) if wb.planned_route else None
        w.insured_value = wb.insured_value
        r = wb.recipient
        w.recipient = (r.name, r.phone, r.locale.value, r.timezone)
        if wb.promised_at is not None:
            w.promised_at = to_us(wb.promised_at)
            w.promise_derived = False
        else:
            end = journey_end(w, self.ctx)
            margin = self.ctx.t.promise_margin.get(w.product, 0)
            w.promised_at = None if end is None else end + margin
            w.promise_derived = True
        self._reconcile(step, now)
        return step

    def admit(self, w: WaybillState | None, scan: Scan, at: int) -> tuple[int, int] | None:
        """Whether a scan may be applied, asked before it moves any clock: (event id
        digest, content digest) if so, None for a redelivery (it changes nothing).
        Raises InvalidRecord for a scan that reuses an event id with other content or
        would pass a cap (CONTRACT §7). `at`: the scan's event time in µs."""
        digest = ids.event_digest(scan.event_id)
        content = ids.scan_digest(scan, at)
        if w is None:
            return digest, content
        events = w.events
        found = find_event(events, digest)
        if found >= 0:
            if events[found + 1] in (content, UNKNOWN_CONTENT):
                return None
            raise InvalidRecord(
                "event_id_conflict", "event_id already used by a different scan of this waybill"
            )
        settings = self.ctx.settings
        scans = len(events) // 2
        if scans >= settings.max_scans_per_waybill:
            raise InvalidRecord(
                "over_limit", f"waybill already has {scans} scans (max_scans_per_waybill)"
            )
        episodes = sum(w.opened.values()) if w.opened else 0
        if episodes >= settings.max_episodes_per_waybill:
            raise InvalidRecord(
                "over_limit",
                f"waybill already opened {episodes} exception episodes (max_episodes_per_waybill)",
            )
        return digest, content

    def scan(
        self,
        w: WaybillState | None,
        scan: Scan,
        now: int,
        admitted: tuple[int, int] | None = None,
        at: int | None = None,
    ) -> WaybillStep:
        """Apply a Scan. Its facility ids must be known to the network. `admitted`: what
        `admit` said of it, if the caller asked already; else this asks, and raises the
        same InvalidRecord before changing anything. `at`: its event time in µs, if the
        caller has it."""
        w = w or WaybillState(scan.waybill_no)
        t = at if at is not None else to_us(scan.event_time)
        if admitted is None:
            admitted = self.admit(w, scan, t)
            if admitted is None:
                return WaybillStep(w)  # a redelivery changes nothing
        step, now = self._begin(w, now)
        w = step.state  # (a new one if the parcel was forgotten)
        w.events.extend(admitted)
        w.late = None  # the parcel's position changes

        fac = self.network.facilities
        here = fac[scan.facility_id].id
        kind = scan.scan_type.value
        journal.add_scan(w, t, kind, here, scan.vehicle_id)
        gaps = missed_scan.skipped(w, here)

        if here not in w.visited:
            w.visited += (here,)
        if w.first_scan_at is None or t < w.first_scan_at:
            w.first_scan_at = t
        if w.last_at is None or t >= w.last_at:
            if here != w.last_facility or w.last_type in LEAVING or w.stay_at is None:
                w.stay_at = t  # a new stay begins
            w.last_at = t
            w.last_type = kind
            w.last_facility = here
            w.last_event = scan.event_id
            w.last_vehicle = scan.vehicle_id
            nxt = scan.next_facility_id
            w.last_next = fac[nxt].id if nxt is not None and kind in DEPARTING else None
        elif (
            here == w.last_facility
            and kind not in LEAVING
            and w.last_type not in LEAVING
            and (w.stay_at is None or t < w.stay_at)
        ):
            w.stay_at = t  # a late upload of an earlier scan of the same stay

        old_vehicle = w.vehicle
        if kind in TERMINAL:
            if w.terminal is None:
                w.terminal = kind
                w.terminal_at = t
            w.vehicle = None
        elif (kind in MANIFEST_OFF or (kind in DEPARTING and scan.vehicle_id)) and (
            w.vehicle_at is None or t >= w.vehicle_at
        ):
            w.vehicle = scan.vehicle_id if kind in DEPARTING else None
            w.vehicle_at = t
        if kind == DELIVERY_FAILED:
            w.failures += 1
            if w.failure_first_at is None or t < w.failure_first_at:
                w.failure_first_at = t
            w.failure_reason = scan.reason
            w.failure_facility = here
        elif kind == DAMAGE_REPORTED:
            rank = damage.rank_of(scan.reason)
            if w.damage_at is None or t < w.damage_at:
                w.damage_at = t
                w.damage_facility = here
            w.damage_rank = max(w.damage_rank, rank)

        if w.vehicle != old_vehicle:
            if old_vehicle is not None:
                step.manifest.append(ManifestChange(old_vehicle, w.waybill_no, False, t))
            if w.vehicle is not None:
                step.manifest.append(ManifestChange(w.vehicle, w.waybill_no, True, t))
            w.loaded_at = t if w.vehicle is not None else None
            w.sig_vehicle = w.sig_status = w.sig_since = w.sig_at = None
            w.arr_vehicle = w.arr_facility = w.arr_at = None

        if gaps:
            self._record_gaps(step, gaps, t, now)
        self._reconcile(step, now)
        return step

    def vehicle_fact(
        self, w: WaybillState | None, sig: VehicleFact, now: int
    ) -> WaybillStep | None:
        """Apply a fact of the vehicle the waybill is on; stale facts (from a vehicle the
        parcel has left) are ignored and return None.

        A fact from the waybill's future (`sig.at` > `now`: the vehicle side ran ahead
        while catching up on a backlog) waits in the state and is applied when the
        waybill's time reaches it, in order with its scans."""
        if w is None:
            return None
        if sig.at > now:
            if w.vehicle != sig.vehicle_id and w.vehicle_at is not None and w.vehicle_at > sig.at:
                return None  # it had already left that vehicle by then
            step, now = self._begin(w, now)
            if step.forgotten:
                return step
            pending = [*(w.pending or ()), sig]
            pending.sort(key=lambda p: p.at)
            w.pending = pending[-_MAX_PENDING:]
            self._reconcile(step, now)
            return step
        if w.vehicle != sig.vehicle_id:
            return None
        step, now = self._begin(w, now)
        if step.forgotten:
            return step
        _apply_fact(w, sig)
        self._reconcile(step, now)
        return step

    def tick(self, w: WaybillState, now: int) -> WaybillStep:
        """Time has reached `now` with no new input: fire whatever is due (`gone`: the
        state is to be deleted)."""
        step, now = self._begin(w, now)
        if not step.forgotten:
            self._reconcile(step, now)
        return step

    def _forget_at(self, w: WaybillState) -> int | None:
        """When a finished parcel's state may go: a while after its end, once nothing
        about it is open (an open DAMAGED episode is still someone's work)."""
        if w.terminal_at is None or w.episodes:
            return None
        return w.terminal_at + self.ctx.t.forget_finished

    def _begin(self, w: WaybillState, now: int) -> tuple[WaybillStep, int]:
        """Start a step: time never goes back for a waybill, and deadlines that fell due
        before this input fire first, each at its own time. Replay has fired them already;
        the live pipeline may receive an input before the timer's tick for an earlier
        deadline, and must come to the same result."""
        step = WaybillStep(w)
        if w.clock is not None and now < w.clock:
            now = w.clock
        while w.deadline is not None and w.deadline <= now:
            due = w.deadline
            if due == self._forget_at(w):  # from here on, a parcel never seen
                step.forgotten = True
                w = step.state = WaybillState(w.waybill_no)
                break
            self._apply_pending(w, due)
            self._reconcile(step, due)
            if w.deadline is not None and w.deadline <= due:
                break  # no progress: a rule answered a deadline in the past
        self._apply_pending(w, now)
        w.clock = now
        return step, now

    @staticmethod
    def _apply_pending(w: WaybillState, upto: int) -> None:
        pending = w.pending
        if not pending or pending[0].at > upto:
            return
        while pending and pending[0].at <= upto:
            sig = pending.pop(0)
            if w.vehicle == sig.vehicle_id:
                _apply_fact(w, sig)
        w.pending = pending or None

    # -- episodes ----------------------------------------------------------------
    def _reconcile(self, step: WaybillStep, now: int) -> None:
        w = step.state
        episodes = w.episodes
        deadline: int | None = None
        ctx = self.ctx
        for rule in self._rules_for(w):
            ep = episodes.get(rule.type) if episodes else None
            answer = rule.check(w, ctx, now, ep)
            if isinstance(answer, Candidate):
                if ep is None:
                    self._open(step, rule.type, answer, now)
                elif ep.identity != answer.identity:
                    self._resolve(step, rule, ep, now, "SUPERSEDED")
                    self._open(step, rule.type, answer, now)
                elif answer.revision > ep.revision:
                    self._update(step, ep, answer, now)
                continue
            if ep is not None and not rule.sticky:
                self._resolve(step, rule, ep, now, None)
            if answer is not None and (deadline is None or answer < deadline):
                deadline = answer
        if w.pending and (deadline is None or w.pending[0].at < deadline):
            deadline = w.pending[0].at
        forget = self._forget_at(w)
        if forget is not None and (deadline is None or forget < deadline):
            deadline = forget
        w.deadline = deadline
        episodes = w.episodes
        if episodes and "MISSED_SCAN" not in episodes:
            held = episodes.get("DELAY_PREDICTED")
            if held is not None and held.notified == HELD:  # the scans resumed: tell now
                held.notified = 0
                self._notify(step, held, "OPEN", now, None)  # (no ticket: no due time)

    def _open(
        self, step: WaybillStep, exc_type: str, c: Candidate, now: int, track: bool = True
    ) -> Episode | None:
        """Open an episode; None once the waybill has opened max_episodes_per_waybill (its
        scans are refused from then on, and no deadline opens another)."""
        w = step.state
        opened = w.opened if w.opened is not None else {}
        if sum(opened.values()) >= self.ctx.settings.max_episodes_per_waybill:
            return None
        ordinal = opened.get(exc_type, 0)
        opened[exc_type] = ordinal + 1
        w.opened = opened
        ep = Episode(
            ids.exception_id(w.waybill_no, exc_type, ordinal, c.since),
            exc_type,
            c.since,
            c.severity,
            c.revision,
            c.identity,
            c.facility,
            c.vehicle,
            now,
        )
        if track:
            if w.episodes is None:
                w.episodes = {}
            w.episodes[exc_type] = ep
        self._emit(step, ep, "OPEN", now, c.evidence)
        return ep

    def _update(self, step: WaybillStep, ep: Episode, c: Candidate, now: int) -> None:
        ep.severity = c.severity
        ep.revision = c.revision
        self._emit(step, ep, "UPDATED", now, c.evidence)

    def _resolve(
        self, step: WaybillStep, rule: Rule, ep: Episode, now: int, reason: str | None
    ) -> None:
        w = step.state
        if w.episodes is not None and w.episodes.get(ep.type) is ep:
            del w.episodes[ep.type]
        evidence: dict[str, Any] = {
            "resolution": reason or self._resolution_reason(w, ep, now),
            "last_scan": last_scan_evidence(w),
        }
        if rule.resolution is not None:
            evidence.update(rule.resolution(w, ep, now))
        self._emit(step, ep, "RESOLVED", now, evidence)

    @staticmethod
    def _resolution_reason(w: WaybillState, ep: Episode, now: int) -> str:
        if w.terminal is not None:
            return w.terminal
        if ep.type == "DELAY_PREDICTED":
            if w.promised_at is not None and now > w.promised_at:
                return "SUPERSEDED_BY_DELAYED"
            return "PREDICTION_WITHIN_PROMISE"
        if (
            ep.type == "STALLED_IN_TRANSIT"
            and w.vehicle == ep.vehicle
            and w.sig_status == VEHICLE_OK
        ):
            return "VEHICLE_MOVING"
        return "PARCEL_SCANNED"

    def _record_gaps(self, step: WaybillStep, gaps: list[str], at: int, now: int) -> None:
        """MISSED_SCAN (c): one episode per skipped checkpoint, opened and resolved at once.
        A checkpoint already covered by an open MISSED_SCAN is not recorded twice."""
        w = step.state
        w.gaps += tuple(gaps)
        open_ep = w.episodes.get("MISSED_SCAN") if w.episodes else None
        rule = next(r for r in self._rules if r.type == "MISSED_SCAN")
        for facility in gaps:
            if open_ep is not None and open_ep.identity == facility:
                continue
            evidence = {
                "variant": "CHECKPOINT_SKIPPED",
                "expected_facility_id": facility,
                "planned_route": list(w.route or ()),
                "revealed_by": last_scan_evidence(w),
            }
            ep = self._open(
                step, "MISSED_SCAN", Candidate(at, "LOW", evidence, facility), now, track=False
            )
            if ep is None:
                return
            self._resolve(step, rule, ep, now, "CHECKPOINT_SKIPPED")

    # -- records -----------------------------------------------------------------
    def _emit(
        self, step: WaybillStep, ep: Episode, status: str, now: int, evidence: dict[str, Any]
    ) -> None:
        w = step.state
        now_dt = to_datetime(now)
        journal.record_exception(
            w,
            ep.exception_id,
            ep.type,
            status,
            ep.severity,
            ep.opened_at,
            now,
            ep.facility,
            ep.vehicle,
        )
        step.outputs.append(
            (
                "exceptions",
                ExceptionRecord(
                    exception_id=ep.exception_id,
                    waybill_no=w.waybill_no,
                    type=ep.type,
                    status=status,
                    severity=ep.severity,
                    detected_at=now_dt,
                    opened_at=to_datetime(ep.opened_at),
                    resolved_at=now_dt if status == "RESOLVED" else None,
                    facility_id=ep.facility,
                    vehicle_id=ep.vehicle,
                    evidence=evidence,
                ),
            )
        )
        due_at = None
        if ep.type not in ticketing.NO_TICKET:
            due_at = self._ticket(step, ep, status, now, evidence)
        if status != "RESOLVED" and ep.type in notify.NOTIFY:
            self._notify(step, ep, status, now, due_at)

    def _ticket(
        self, step: WaybillStep, ep: Episode, status: str, now: int, evidence: dict[str, Any]
    ) -> int:
        w = step.state
        department, priority = ticketing.route(w, ep, self.network)
        created = ep.ticket_created_at
        due = created + self._due_hours[priority]
        locale = self.ctx.settings.ticket_locale
        ticket_id = ids.ticket_id(ep.exception_id)
        journal.record_ticket(w, ep.exception_id, ticket_id, department, priority, due)
        step.outputs.append(
            (
                "tickets",
                Ticket(
                    ticket_id=ticket_id,
                    exception_id=ep.exception_id,
                    waybill_no=w.waybill_no,
                    type=ep.type,
                    status=status,
                    priority=priority,
                    department=department,
                    facility_id=ep.facility,
                    created_at=to_datetime(created),
                    updated_at=to_datetime(now),
                    due_at=to_datetime(due),
                    summary=ticketing.summary(w, ep, evidence, locale, self.network),
                    evidence=evidence,
                    suggested_actions=ticketing.suggested_actions(ep, locale),
                ),
            )
        )
        return due

    def _notify(
        self, step: WaybillStep, ep: Episode, status: str, now: int, due_at: int | None
    ) -> None:
        w = step.state
        if w.recipient is None:
            return  # never registered: nobody to tell
        if (
            status == "OPEN"
            and ep.type == "DELAY_PREDICTED"
            and "MISSED_SCAN" in (w.episodes or ())
        ):
            # Predicted from a position the scans stopped reporting: as likely a scanner
            # outage as a delay. Told when the scans resume if the prediction stands
            # (_reconcile); DELAYED tells the customer at the promise in any case.
            ep.notified = HELD
            return
        sequence = ep.notified
        if status == "UPDATED" and (ep.type not in notify.ESCALATING or sequence != 1):
            return
        if status == "OPEN" and sequence != 0:
            return
        name, phone, locale, tz = w.recipient
        settings = self.ctx.settings
        send_at = notify.send_after(now, tz, settings.quiet_hours_start, settings.quiet_hours_end)
        day = notify.local_day(send_at, tz)
        if day > w.notif_day:
            w.notif_day, w.notif_count = day, 0
        if day == w.notif_day:
            if w.notif_count >= settings.notifications_per_day:
                ep.notified = sequence + 1  # this message's turn is spent, not postponed
                return
            w.notif_count += 1
        ep.notified = sequence + 1
        eta = eta_at(w, self.ctx, now)
        expected = expected_delivery(w, self.ctx, now)
        title, body = notify.render(
            ep.type,
            locale,
            name=name,
            waybill_no=w.waybill_no,
            tz=tz,
            send_at=send_at,
            next_update=due_at if due_at is not None else send_at + 4 * HOUR,
            eta=eta,
            window=(expected.p10, expected.p90) if expected is not None else None,
            promised=w.promised_at,
            damage=damage.damage_name(w.damage_rank) if w.damage_rank else None,
            insured=w.insured_value > 0,
            failure_reason=w.failure_reason,
            escalation=status == "UPDATED",
            quiet=(settings.quiet_hours_start, settings.quiet_hours_end),
        )
        notification_id = ids.notification_id(ep.exception_id, sequence)
        channel = notify.channel(ep.severity)
        journal.record_message(
            w, ep.exception_id, notification_id, channel, locale, title, body, send_at
        )
        step.outputs.append(
            (
                "notifications",
                Notification(
                    notification_id=notification_id,
                    exception_id=ep.exception_id,
                    waybill_no=w.waybill_no,
                    type=ep.type,
                    channel=channel,
                    locale=locale,
                    recipient=NotificationRecipient(name=name, phone=phone),
                    title=title,
                    body=body,
                    send_after=to_datetime(send_at),
                    created_at=to_datetime(now),
                ),
            )
        )
