"""What of the input may reach a customer's message (CONTRACT §7). Anyone who can create
an order chooses the recipient's name, so a name is echoed only when it plainly is one;
everything else from the input passes `sanitise` on its way into a template.

A name is echoed only if it is at most 32 characters of letters (any script, with their
combining marks), single spaces and the punctuation names carry (`.`, `·`, `-`, `'`), and
does not look like a web address. That refuses, beyond what §7 lists (control, line-break,
bidi and zero-width characters, URLs, length), digits (a number to call) and brackets
(`【快递】` would pose as the carrier's own signature): such a customer is greeted without
a name, and the order stays valid.
"""

from __future__ import annotations

import re
import unicodedata

NAME_LIMIT = 32

_NAME_PUNCTUATION = frozenset(" .·・-'’")
_LETTER = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc"})
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (bidi overrides, zero-width characters), surrogate, private-use and
unassigned characters, and line and paragraph separators."""
_URL = re.compile(
    r"://|www[.。．]|[a-z0-9-][.。．](?:com|cn|net|org|top|xyz|cc|io|me|info|vip|shop|link|ly)\b",
    re.IGNORECASE,
)


def greeting_name(name: str | None) -> str | None:
    """The recipient's name as it may appear in a message, or None: greet without one."""
    if not name or len(name) > NAME_LIMIT or "  " in name or name != name.strip():
        return None
    for c in name:
        if c not in _NAME_PUNCTUATION and unicodedata.category(c) not in _LETTER:
            return None
    if _URL.search(name):
        return None
    return name


def sanitise(text: str) -> str:
    """`text` without the characters a message must never carry (see `_UNSAFE`), runs
    of whitespace made one space: for every input-derived value put into a template."""
    kept = "".join(c for c in text if unicodedata.category(c) not in _UNSAFE)
    return " ".join(kept.split())


def is_clean(text: str) -> bool:
    """Whether rendered text carries no unsafe character and no web address (tests and
    the renderer's own guard)."""
    return not any(unicodedata.category(c) in _UNSAFE for c in text) and not _URL.search(text)
