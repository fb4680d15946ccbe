"""Proactive customer notifications (CONTRACT §6): who gets one, when it may be sent,
and the words.

The wording follows the service rules of the seed training material (seed 003): call the
person by name, say plainly what happened, what we are doing, and when they will hear
from us next or when the parcel is now expected (in their local time), and thank them.
No trade jargon, no blaming the weather or "the system", one apology at most, and none of
the forbidden phrases (忌语) listed in DESIGN.md — the tests check every template.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from parcelwatch.clock import HOUR, to_datetime, to_us
from parcelwatch.detection.actions.customer_text import greeting_name, sanitise

NOTIFY = frozenset(
    {
        "DELAY_PREDICTED",
        "DELAYED",
        "DAMAGED",
        "DELIVERY_FAILED",
        "LOST_SUSPECTED",
        "PICKUP_OVERDUE",
    }
)
"""Customer-facing types; the rest are internal and reach the customer through the ETA."""

ESCALATING = frozenset({"DAMAGED", "DELIVERY_FAILED"})
"""Types whose UPDATED (escalation) may send one more message."""


def channel(severity: str) -> str:
    """Urgent news goes by SMS, the rest by app push."""
    return "SMS" if severity in ("HIGH", "CRITICAL") else "APP_PUSH"


def send_after(created_at: int, tz: str, quiet_start: int, quiet_end: int) -> int:
    """Hold a message created in quiet hours (recipient local time) until they end."""
    local = to_datetime(created_at).astimezone(ZoneInfo(tz))
    hour = local.hour
    quiet = (
        (hour >= quiet_start or hour < quiet_end)
        if quiet_start > quiet_end
        else quiet_start <= hour < quiet_end
    )
    if not quiet:
        return created_at
    release = local.replace(hour=quiet_end, minute=0, second=0, microsecond=0)
    if release <= local:
        release += timedelta(days=1)
    return to_us(release)


def local_day(us: int, tz: str) -> int:
    """The recipient's local calendar day, as an ordinal (for the daily cap)."""
    return to_datetime(us).astimezone(ZoneInfo(tz)).date().toordinal()


def _round_up_hour(us: int) -> int:
    return -(-us // HOUR) * HOUR


def _fmt(us: int, tz: str, locale: str) -> str:
    moment: datetime = to_datetime(us).astimezone(ZoneInfo(tz))
    if locale == "en":
        return f"{moment.day} {moment.strftime('%b')} {moment:%H:%M}"
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def _when(
    eta: int | None, window: tuple[int, int] | None, send_at: int, tz: str, locale: str
) -> str:
    """When the parcel is expected, as the delay messages say it: the window widened to
    whole hours ("11月23日 14:00–18:00 送达" / "on 23 Nov, 14:00–18:00"), never starting
    before the message is sent; else by the planned ETA."""
    zh = locale == "zh-CN"
    if window is None:
        shown = _fmt(eta, tz, locale) if eta is not None else ""
        return f"{shown}前送达" if zh else f"by {shown}"
    start = max(window[0] // HOUR * HOUR, _round_up_hour(send_at))
    end = max(_round_up_hour(window[1]), start + HOUR)
    a = to_datetime(start).astimezone(ZoneInfo(tz))
    b = to_datetime(end).astimezone(ZoneInfo(tz))
    if a.date() == b.date():
        span = f"{a:%H:%M}–{b:%H:%M}"
        return f" {a.month}月{a.day}日 {span} 送达" if zh else f"on {a.day} {a:%b}, {span}"
    if zh:
        return f" {_fmt(start, tz, locale)} 至 {_fmt(end, tz, locale)} 之间送达"
    return f"between {_fmt(start, tz, locale)} and {_fmt(end, tz, locale)}"


_DAMAGE = {
    "zh-CN": {"MINOR": "外包装轻微破损", "MAJOR": "包裹明显破损", "DESTROYED": "包裹严重损坏"},
    "en": {
        "MINOR": "minor damage to the packaging",
        "MAJOR": "clear damage to the parcel",
        "DESTROYED": "severe damage to the parcel",
    },
}
_FAILURE = {
    "zh-CN": {
        "RECIPIENT_ABSENT": "快递员上门时没能联系上您",
        "ADDRESS_INVALID": "快递员没能找到收件地址",
        "REFUSED": "快递被拒收了",
        "OTHER": "快递员没能完成派送",
    },
    "en": {
        "RECIPIENT_ABSENT": "our courier could not reach you",
        "ADDRESS_INVALID": "our courier could not find the delivery address",
        "REFUSED": "the parcel was refused",
        "OTHER": "our courier could not complete the delivery",
    },
}

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "DELAY_PREDICTED": (
            "您的快递预计稍晚送达",
            "{greeting}您的快递(运单号 {waybill})目前比原计划慢了一些,预计{when}。"
            "我们已安排专人跟进,优先为您运输和派送,有新进展会第一时间告诉您。感谢您的耐心等待!",
        ),
        "DELAYED": (
            "您的快递未能按时送达",
            "{greeting}您的快递(运单号 {waybill})没能在承诺的{promised}前送到,耽误了您的时间,"
            "很抱歉。我们已安排专人优先处理,预计{when},{next_update}前会再告诉您最新进展。"
            "感谢您的理解与支持!",
        ),
        "DAMAGED": (
            "您的快递在运输中出现破损",
            "{greeting}您的快递(运单号 {waybill})在运输中发现{damage}。我们已拍照登记,"
            "并为您启动了理赔{insured},理赔专员会在{next_update}前与您联系,商定处理方案。"
            "感谢您的理解与支持!",
        ),
        "DELIVERY_FAILED": (
            "今天没能把快递送到您手上",
            "{greeting}您的快递(运单号 {waybill}){reason}。我们会在{next_update}前与您联系,"
            "确认方便的派送时间{address};您也可以直接回复本消息告诉我们。感谢您的支持!",
        ),
        "LOST_SUSPECTED": (
            "我们正在为您查找快递",
            "{greeting}您的快递(运单号 {waybill})已有一段时间没有更新物流信息。"
            "我们已启动专项查找,专员会在{next_update}前告诉您查找结果;如果未能找回,"
            "我们会为您提供赔付方案。感谢您的耐心等待!",
        ),
        "PICKUP_OVERDUE": (
            "寄给您的快递还在等待取件",
            "{greeting}寄给您的快递(运单号 {waybill})还没有被取件。我们已通知快递员尽快上门,"
            "{next_update}前会告诉您取件情况和预计送达时间。感谢您的耐心等待!",
        ),
    },
    "en": {
        "DELAY_PREDICTED": (
            "Your parcel is running a little late",
            "{greeting} your parcel {waybill} is moving more slowly than planned and is now "
            "expected {when}. Our team is giving it priority and we will tell you as soon as "
            "anything changes. Thank you for your patience.",
        ),
        "DELAYED": (
            "Your parcel is late",
            "{greeting} your parcel {waybill} did not reach you by {promised} as promised, "
            "and we are sorry for the wait. Our team is giving it priority and now expects to "
            "deliver it {when}. We will update you again by {next_update}. Thank you for your "
            "understanding.",
        ),
        "DAMAGED": (
            "Your parcel was damaged in transit",
            "{greeting} we found {damage} on your parcel {waybill}. We have photographed and "
            "recorded it and opened a claim for you{insured}. A claims specialist will contact "
            "you by {next_update} to agree on the next steps. Thank you for your understanding.",
        ),
        "DELIVERY_FAILED": (
            "We could not deliver your parcel today",
            "{greeting} we could not deliver your parcel {waybill}: {reason}. We will contact "
            "you by {next_update} to arrange a time that suits you{address}, or you can reply to "
            "this message with a convenient time. Thank you for your help.",
        ),
        "LOST_SUSPECTED": (
            "We are looking for your parcel",
            "{greeting} your parcel {waybill} has had no tracking update for a while. We have "
            "started a dedicated search and will tell you the result by {next_update}; if it "
            "cannot be found, we will offer you compensation. Thank you for your patience.",
        ),
        "PICKUP_OVERDUE": (
            "The parcel for you is waiting to be collected",
            "{greeting} the parcel {waybill} being sent to you has not been collected yet. We "
            "have asked a courier to collect it as soon as possible and will tell you how it is "
            "going, with the expected delivery time, by {next_update}. Thank you for your "
            "patience.",
        ),
    },
}

_ESCALATION_TITLE = {
    "zh-CN": {"DAMAGED": "您的快递破损情况有更新", "DELIVERY_FAILED": "您的快递再次未能送达"},
    "en": {
        "DAMAGED": "An update on your damaged parcel",
        "DELIVERY_FAILED": "We still could not deliver your parcel",
    },
}


def render(
    exc_type: str,
    locale: str,
    *,
    name: str,
    waybill_no: str,
    tz: str,
    send_at: int,
    next_update: int,
    eta: int | None = None,
    window: tuple[int, int] | None = None,
    promised: int | None = None,
    damage: str | None = None,
    insured: bool = False,
    failure_reason: str | None = None,
    escalation: bool = False,
    quiet: tuple[int, int] | None = (22, 8),
) -> tuple[str, str]:
    """(title, body) in the recipient's locale; times in the recipient's timezone.
    `window`: the expected delivery's P10-P90 (detection/expected.py), named instead of
    the planned ETA's "by" time where there is one."""
    title, body = TEMPLATES[locale][exc_type]
    if escalation:
        title = _ESCALATION_TITLE[locale].get(exc_type, title)
    # Never promise a time that is already past when the message is actually sent.
    shown_eta = _round_up_hour(max(eta, send_at + HOUR)) if eta is not None else None
    update = _round_up_hour(max(next_update, send_at + HOUR))
    if quiet is not None:  # and never promise to call in the middle of the night
        update = send_after(update, tz, *quiet)
    zh = locale == "zh-CN"
    shown_name = greeting_name(name)
    if zh:
        greeting = f"{shown_name},您好!" if shown_name else "您好!"
    else:
        greeting = f"Hello {shown_name}," if shown_name else "Hello,"
    values = {
        "greeting": greeting,
        "waybill": sanitise(waybill_no),
        "eta": _fmt(shown_eta, tz, locale) if shown_eta is not None else "",
        "when": _when(shown_eta, window, send_at, tz, locale),
        "promised": _fmt(promised, tz, locale) if promised is not None else "",
        "next_update": _fmt(update, tz, locale),
        "damage": _DAMAGE[locale].get(damage or "", _DAMAGE[locale]["MINOR"]),
        "insured": (
            (
                ",您的包裹已保价,我们会按保价金额优先处理"
                if zh
                else "; as it is insured, it is handled first"
            )
            if insured
            else ""
        ),
        "reason": _FAILURE[locale].get(failure_reason or "OTHER", _FAILURE[locale]["OTHER"]),
        "address": (
            ("和详细地址" if zh else " and check the address")
            if failure_reason == "ADDRESS_INVALID"
            else ""
        ),
    }
    return title, body.format(**values)
