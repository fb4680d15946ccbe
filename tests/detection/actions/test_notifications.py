"""Customer notifications: wording rules, quiet hours, caps."""

import re
from datetime import datetime

import pytest

from parcelwatch.clock import to_us
from parcelwatch.detection.actions import notifications as notify

# The forbidden phrases (忌语) of seed 003, as listed in DESIGN.md.
FORBIDDEN = """我就是这个态度 · 找领导也没用 · 你到底是啥意思 · 不行就是不行 · 你问我,我问谁 ·
怎么这么费劲 · 怎么这么啰嗦 · 你自己态度好点 · 麻烦你配合点 · 你自己有没有搞错 ·
听不见,大声点 · 你自己先搞清楚再来电话 · 找媒体也好,打官司也罢 · 我已经讲得很明白了 ·
你不相信,我也没办法 · 你不信,我也没办法 · 记不住就拿笔记一下 · 不现实,办不到的 ·
电脑不会错的 · 系统不会错的 · 系统显示就是这样,我有啥办法 · 公司就是这么规定的 ·
你叫我咋办 · 快讲话呀 · 你们怎么老这样 · 你找谁去理论 · 不可能,你有啥证据"""
FORBIDDEN_PHRASES = [p.strip() for p in FORBIDDEN.replace("\n", " ").split("·")]
EXCUSES = ["天气", "系统", "电脑", "weather", "system", "computer"]
JARGON = ["分拨", "中转场", "干线", "揽件", "派件", "linehaul", "hub", "scan", "waybill"]

SEND = to_us(datetime.fromisoformat("2026-11-20T10:00:00+08:00"))
CASES = [
    (exc_type, locale, escalation, reason)
    for locale in ("zh-CN", "en")
    for exc_type in sorted(notify.NOTIFY)
    for escalation in ((False, True) if exc_type in notify.ESCALATING else (False,))
    for reason in (
        ("RECIPIENT_ABSENT", "ADDRESS_INVALID", "REFUSED", "OTHER")
        if exc_type == "DELIVERY_FAILED"
        else (None,)
    )
]


def _render(exc_type, locale, escalation=False, reason=None, name=None):
    return notify.render(
        exc_type,
        locale,
        name=name or ("李娜" if locale == "zh-CN" else "Alice Smith"),
        waybill_no="SF1234567890",
        tz="Asia/Shanghai",
        send_at=SEND,
        next_update=SEND + 2 * 3_600_000_000,
        eta=SEND + 30 * 3_600_000_000,
        promised=SEND - 3_600_000_000,
        damage="MAJOR",
        insured=True,
        failure_reason=reason,
        escalation=escalation,
    )


def test_phrase_list_is_complete():
    assert len(FORBIDDEN_PHRASES) == 27


@pytest.mark.parametrize(("exc_type", "locale", "escalation", "reason"), CASES)
def test_every_template_follows_the_service_rules(exc_type, locale, escalation, reason):
    title, body = _render(exc_type, locale, escalation, reason)
    text = title + body
    name = "李娜" if locale == "zh-CN" else "Alice Smith"
    assert body.startswith(name) or body.startswith(f"Hello {name},")  # by name, first
    assert "SF1234567890" in body
    for phrase in FORBIDDEN_PHRASES:
        assert phrase not in text
    for word in EXCUSES + JARGON:
        assert word.lower() not in text.lower(), word
    if locale == "zh-CN":
        assert "感谢" in body  # thanks
        assert re.search(r"\d+月\d+日 \d\d:\d\d", body)  # a concrete local time
        assert body.count("抱歉") + body.count("对不起") <= 1  # no over-apology
        assert not re.search(r"[A-Za-z]{4,}", body.replace("SF1234567890", ""))  # no English
    else:
        assert "Thank you" in body
        assert re.search(r"\d+ [A-Z][a-z]{2} \d\d:\d\d", body)
        assert body.lower().count("sorry") <= 1
        assert not re.search(r"[\u4e00-\u9fff]", text)  # no Chinese in English messages


def test_times_are_in_the_recipients_timezone():
    _, body = notify.render(
        "DELAY_PREDICTED",
        "en",
        name="Bob",
        waybill_no="W1",
        tz="Europe/London",
        send_at=SEND,
        next_update=SEND,
        eta=to_us(datetime.fromisoformat("2026-11-21T18:00:00+08:00")),
    )
    assert "21 Nov 10:00" in body  # 18:00 Beijing is 10:00 in London


def test_eta_never_shown_in_the_past_of_the_send_time():
    _, body = notify.render(
        "DELAYED",
        "zh-CN",
        name="王芳",
        waybill_no="W1",
        tz="Asia/Shanghai",
        send_at=SEND,
        next_update=SEND,
        eta=SEND - 5 * 3_600_000_000,
        promised=SEND - 6 * 3_600_000_000,
    )
    assert "预计11月20日 11:00前送达" in body


def _bj(text: str) -> int:
    return to_us(datetime.fromisoformat(f"2026-{text}:00+08:00"))


@pytest.mark.parametrize(
    ("exc_type", "locale", "window", "says"),
    [
        (
            "DELAY_PREDICTED",
            "zh-CN",
            ("11-23T14:20", "11-23T17:40"),
            "预计 11月23日 14:00–18:00 送达。",
        ),
        ("DELAYED", "zh-CN", ("11-23T14:00", "11-23T18:00"), "预计 11月23日 14:00–18:00 送达,"),
        (
            "DELAY_PREDICTED",
            "en",
            ("11-23T14:20", "11-23T17:40"),
            "expected on 23 Nov, 14:00–18:00.",
        ),
        ("DELAYED", "en", ("11-23T14:00", "11-23T18:00"), "deliver it on 23 Nov, 14:00–18:00."),
        # Across midnight: both ends with their day.
        (
            "DELAY_PREDICTED",
            "zh-CN",
            ("11-23T21:10", "11-24T10:30"),
            "预计 11月23日 21:00 至 11月24日 11:00 之间送达",
        ),
        (
            "DELAY_PREDICTED",
            "en",
            ("11-23T21:10", "11-24T10:30"),
            "between 23 Nov 21:00 and 24 Nov 11:00",
        ),
        # A window that began before the message is sent starts when it is sent.
        ("DELAY_PREDICTED", "en", ("11-20T08:00", "11-20T12:30"), "on 20 Nov, 10:00–13:00"),
    ],
)
def test_the_delay_messages_name_the_expected_window(exc_type, locale, window, says):
    _, body = notify.render(
        exc_type,
        locale,
        name="王芳" if locale == "zh-CN" else "Bob",
        waybill_no="W1",
        tz="Asia/Shanghai",
        send_at=SEND,  # 11-20 10:00
        next_update=SEND,
        eta=_bj("11-23T20:00"),
        window=(_bj(window[0]), _bj(window[1])),
        promised=SEND - 6 * 3_600_000_000,
    )
    assert says in body
    assert "23日 20:00前" not in body and "by 23 Nov 20:00" not in body  # not the plan's "by"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-20T21:59:00+08:00", "2026-11-20T21:59:00+08:00"),
        ("2026-11-20T22:00:00+08:00", "2026-11-21T08:00:00+08:00"),
        ("2026-11-21T03:00:00+08:00", "2026-11-21T08:00:00+08:00"),
        ("2026-11-21T08:00:00+08:00", "2026-11-21T08:00:00+08:00"),
    ],
)
def test_quiet_hours_hold_until_eight(local, expected):
    dt = datetime.fromisoformat
    assert notify.send_after(to_us(dt(local)), "Asia/Shanghai", 22, 8) == to_us(dt(expected))


def test_quiet_hours_follow_the_recipients_timezone():
    dt = datetime.fromisoformat
    # 23:00 in Beijing is 16:00 in Berlin: not quiet there.
    moment = to_us(dt("2026-11-20T23:00:00+08:00"))
    assert notify.send_after(moment, "Europe/Berlin", 22, 8) == moment


def test_channel_by_severity():
    assert notify.channel("CRITICAL") == notify.channel("HIGH") == "SMS"
    assert notify.channel("MEDIUM") == notify.channel("LOW") == "APP_PUSH"


def test_internal_types_never_notify():
    assert not notify.NOTIFY & {
        "MISSED_SCAN",
        "STALLED_AT_FACILITY",
        "STALLED_IN_TRANSIT",
        "MISROUTED",
    }


# -- through the whole pipeline -------------------------------------------------------


def test_night_detection_is_held_until_morning(events, run):
    # created 08:00+08; pickup overdue at 08:00 next day is not quiet, so use a 15 h limit:
    # 23:00 local is quiet.
    events.waybill(promised=200)
    out = run(events, until=16, config={"pickup_overdue_hours": 15})
    (note,) = out.notifications
    assert note["created_at"] == "2026-11-20T15:00:00+00:00"  # 23:00 local
    assert note["send_after"] == "2026-11-21T00:00:00+00:00"  # 08:00 local


def test_at_most_three_per_waybill_per_local_day(events, run):
    events.waybill(promised=12, insured=100)  # delay prediction, then delay
    events.scan("PICKUP", "A-OUT", 1)
    events.scan("DAMAGE_REPORTED", "A-OUT", 1.5, reason="MINOR")
    events.scan("DAMAGE_REPORTED", "A-OUT", 2, reason="MAJOR")  # escalation
    events.scan("HUB_ARRIVAL", "A-HUB", 3)
    out = run(events, until=13)
    per_day = {}
    for note in out.notifications:
        day = note["send_after"][:10]
        per_day[day] = per_day.get(day, 0) + 1
    assert max(per_day.values()) == 3
    sent = {n["type"] for n in out.notifications}
    assert "DELAYED" not in sent  # the fourth message of the day was not sent


def test_one_notification_per_episode_across_updates(events, run):
    events.waybill(promised=200).journey()
    events.lines = events.lines[:-1]
    for i, h in enumerate((17, 19, 21, 23)):
        events.scan("DELIVERY_FAILED", "C-OUT", h + 24 * i, reason="OTHER")
    out = run(events)
    assert len(out.notifications) == 2


def test_unregistered_waybill_gets_tickets_but_no_messages(events, run):
    events.scan("PICKUP", "A-OUT", 1, no="GHOST")
    events.scan("DAMAGE_REPORTED", "A-OUT", 2, no="GHOST", reason="MAJOR")
    out = run(events)
    assert out.statuses("DAMAGED", "GHOST") == ["OPEN"]
    assert out.tickets and not out.notifications
