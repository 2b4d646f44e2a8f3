"""Hostile input shared by the bad-input tests: a table of named values for the
parametrized tests, and Hypothesis strategies for the fuzz tests."""

from __future__ import annotations

import os
import unicodedata

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings
from hypothesis import strategies as st

from tests.factories import key_info

# -- the table ---------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'

# (id, value). Every form field and query-string filter gets each of these.
HOSTILE = [
    ("sql-or", "' OR 1=1 --"),
    ("sql-drop", '"; DROP TABLE x; --'),
    ("script", SCRIPT),
    ("img-onerror", IMG),
    ("traversal", "../../etc/passwd"),
    ("long", "A" * 10_000),
    ("nul", "a\x00b"),
    ("controls", "a\x1b[31m\x07\x08\rb"),
    ("c1-control", "a\x85\x9bb"),
    ("rtl-override", "invoice\u202egnp.exe"),
    ("zero-width", "ad\u200dmin\u200b"),
    ("cyrillic", "\u0430dmin"),  # а (Cyrillic) + dmin
    ("fullwidth", "\uff53\uff45\uff4c\uff45\uff43\uff54"),  # ｓｅｌｅｃｔ
]
HOSTILE_IDS = [name for name, _ in HOSTILE]
HOSTILE_VALUES = dict(HOSTILE)

# Values a free-text name may hold: printable, whatever it says. The rest hold a control,
# format or line-break character, or are too long for any name.
PRINTABLE = {"sql-or", "sql-drop", "script", "img-onerror", "traversal", "cyrillic", "fullwidth"}

# Markup that must never reach a page unescaped.
RAW_MARKUP = (SCRIPT, "<img src=x onerror=alert(1)>")


def assert_escaped(response) -> None:
    """No hostile markup appears raw in the page (its escaped form may)."""
    content = response.content.decode("utf-8", "replace")
    for markup in RAW_MARKUP:
        assert markup not in content


def is_control(char: str) -> bool:
    """Control, format (bidi overrides, zero-width joiners), surrogate or line separator."""
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"}


# Checking an RSA key costs ~0.1 s at 2048 bits and ~0.02 s at 1024 on CI's cores; the key
# parser treats every size alike, so fuzz examples that get that far carry a 1024-bit key.
_SMALL_RSA = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
SMALL_KEY_INFO = key_info(
    private_key=_SMALL_RSA.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
)


# -- Hypothesis --------------------------------------------------------------------------------


def fuzz(max_examples: int) -> settings:
    """The deterministic "fuzz" profile (tests/fuzz/conftest.py) with this many examples."""
    scale = 10 if os.environ.get("FUZZ_EXPLORE") else 1
    return settings(settings.get_profile("fuzz"), max_examples=max_examples * scale)


LOOKALIKES = (
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456"  # Cyrillic а е о р с х у і
    "\u03bf\u03b1\u0391\u0392"  # Greek ο α Α Β
    "\uff21\uff41\uff10\uff19\uff0e\uff1b\uff40"  # fullwidth Ａ ａ ０ ９ ． ； ｀
    "\u0131\u017f\u212a\u00e9\u0065\u0301"  # dotless i, long s, Kelvin sign, é, e + combining
    "\u0661\u06f1\u0966"  # Arabic-Indic, Persian and Devanagari digits
)
INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"  # zero-width, word joiner, BOM, soft hyphen
)
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
CONTROLS = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
SEPARATORS = "\u2028\u2029\u0085\u00a0\u3000\u2003"
SYNTAX = "`'\"\\;:./?#%&=<>()[]{}*-_ $@!|^~+,"
SPECIALS = LOOKALIKES + INVISIBLE + BIDI + CONTROLS + SEPARATORS + SYNTAX

FRAGMENTS = (
    "' OR 1=1 --",
    '"; DROP TABLE x; --',
    "`; DROP TABLE x; --",
    "*/ DROP TABLE x /*",
    SCRIPT,
    IMG,
    "javascript:alert(1)",
    "{{ 7*7 }}",
    "{% debug %}",
    "%(name)s",
    "{0}",
    "../../etc/passwd",
    "..\\..\\windows",
    "%2e%2e%2f",
    "file:///etc/passwd",
    "\x00",
    "\ud800",  # removed unless surrogates are asked for
    "\u202e",
    "NaN",
    "-1",
    "99999999999999999999999999",
    "1e309",
)

_specials = st.sampled_from(SPECIALS)


def characters(*, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Mostly the characters above, with any other code point now and then."""
    pools = [_specials, _specials, st.characters(codec="utf-8"), st.characters(max_codepoint=0x7F)]
    if surrogates:
        pools.append(st.characters(categories=["Cs"]))
    return st.one_of(*pools)


def hostile_text(*, max_size: int = 40, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Short hostile text: fragments and hostile characters mixed together."""
    fragments = st.sampled_from(
        [f for f in FRAGMENTS if surrogates or not any(is_surrogate(c) for c in f)]
    )
    pieces = st.one_of(
        st.text(characters(surrogates=surrogates), max_size=max_size),
        fragments,
    )
    return st.lists(pieces, max_size=4).map("".join)


def huge_text(*, min_size: int = 1_000, max_size: int = 70_000) -> st.SearchStrategy[str]:
    """A very long value made of one repeated unit (plain, multi-byte, markup or control)."""
    units = st.sampled_from(["A", "\u00e9", "\U0001d54f", "\u202e", "<", "\x00", SCRIPT, " "])
    return st.builds(
        lambda unit, size: (unit * (size // len(unit) + 1))[:size],
        units,
        st.integers(min_size, max_size),
    )


def any_text(*, surrogates: bool = False) -> st.SearchStrategy[str]:
    """What a hostile client could send in one field."""
    return st.one_of(
        hostile_text(surrogates=surrogates),
        hostile_text(surrogates=surrogates),
        hostile_text(surrogates=surrogates),
        huge_text(max_size=12_000),
    )


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def nested_json(depth: int, kind: str) -> str:
    """JSON nested `depth` levels deep: arrays, objects, or alternating."""
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    half = depth // 2
    return '{"a":[' * half + "1" + "]}" * half
