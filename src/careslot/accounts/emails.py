"""One spelling per address: emails are NFKC-normalised and case-folded before they are
stored or looked up, and invisible characters are refused (issue 13, item 7).

Without this, "patient@x.test" and the same text with a zero-width space (U+200B, Unicode
category Cf) in it, or with a fullwidth "p" (U+FF50), are different accounts that look alike.
Format (Cf) and control (Cc) characters are refused with 422 rather than silently dropped,
so what the user typed is never quietly turned into someone else's address.
"""

from __future__ import annotations

import re
import unicodedata

from careslot.errors import ValidationFailed

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_REFUSED = frozenset({"Cf", "Cc"})


def normalise(raw: str) -> str:
    """NFKC, then case-folded (and NFKC again, as case folding can denormalise); raises
    ValidationFailed for format or control characters."""
    text = raw.strip()
    if any(unicodedata.category(ch) in _REFUSED for ch in text):
        raise ValidationFailed("email contains invisible or control characters")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    if any(unicodedata.category(ch) in _REFUSED for ch in folded):
        raise ValidationFailed("email contains invisible or control characters")
    return folded


def valid(raw: str) -> str:
    """The normalised address, or ValidationFailed when it is not one."""
    email = normalise(raw)
    if not EMAIL_RE.match(email):
        raise ValidationFailed("email is not a valid address")
    return email
