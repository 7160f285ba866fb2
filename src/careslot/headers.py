"""HTTP cache headers for answers about a person, shared by the API and the cache strategies.

Per-user answers: a shared cache (CDN, proxy) must never keep them; the browser may keep them
only to revalidate by ETag. Vary on the credentials so one browser's cache never hands user
A's copy to user B. Sensitive answers (appointments, calendars) are not kept at all.
"""

from __future__ import annotations

PRIVATE = {"Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
SENSITIVE = {"Cache-Control": "private, no-store", "Vary": "Authorization, Cookie"}
