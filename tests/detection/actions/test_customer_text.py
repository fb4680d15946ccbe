"""What of the input may reach a customer's message: names echoed only when they plainly
are names, every template clean whatever the input (CONTRACT §7)."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcelwatch.detection.actions.customer_text import greeting_name, is_clean, sanitise
from tests.detection.actions.test_notifications import CASES, _render

ATTACK = "张三\n【快递】您的包裹已取消，请点击 http://refund.example.cn/x 退款"
HOSTILE_NAMES = [
    ATTACK,
    ATTACK.replace("\n", ""),
    "张三\x00",
    "张三\x1b[31m",
    "张三\u202e伟",  # right-to-left override
    "张\u200b三",  # zero-width space
    "张\u2028三",  # line separator
    "张三【快递】您的包裹已取消",  # poses as the carrier's signature
    "www.example.com",
    "refund.example.cn",
    "张三 请致电4008001234",
    "A" * 33,
    " 张三",
    "张  三",
    "<b>张三</b>",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_is_not_echoed(name):
    assert greeting_name(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "张伟",
        "欧阳娜娜",
        "阿卜杜拉·买买提",
        "Alice Smith",
        "O'Brien",
        "José Núñez",
        "J. R. Tolkien",
        "A" * 32,
    ],
)
def test_a_real_name_is_echoed(name):
    assert greeting_name(name) == name


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize(("exc_type", "locale", "escalation", "reason"), CASES)
def test_every_template_with_a_hostile_name_greets_without_it(
    name, exc_type, locale, escalation, reason
):
    title, body = _render(exc_type, locale, escalation, reason, name=name)
    assert is_clean(title) and is_clean(body)
    assert "http" not in body and "【" not in body and "4008001234" not in body
    assert body.startswith("您好!" if locale == "zh-CN" else "Hello, ")


@given(st.text(max_size=80))
def test_any_name_either_appears_whole_in_a_clean_message_or_not_at_all(name):
    _, body = _render("DAMAGED", "en", name=name or "x")
    assert is_clean(body)
    shown = greeting_name(name or "x")
    assert body.startswith(f"Hello {shown}," if shown else "Hello, ")


@given(st.text(max_size=200))
def test_sanitise_leaves_no_unsafe_character(text):
    out = sanitise(text)
    assert not {unicodedata.category(c) for c in out} & {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    assert out == out.strip() and "  " not in out
