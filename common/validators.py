"""Text rules every form shares."""

import unicodedata

# C0 and C1 controls, format characters (bidi overrides and zero-width characters make one
# name look like another), lone surrogates (PostgreSQL cannot store them) and line separators.
CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """True when `text` holds a character no name or label should: see CONTROL_CATEGORIES."""
    return any(unicodedata.category(char) in CONTROL_CATEGORIES for char in text)
