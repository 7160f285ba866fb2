"""A cached answer: the response body and its strong ETag, both as ready-to-send bytes."""

from __future__ import annotations

from dataclasses import dataclass

from careslot.headers import body_etag

ETAG_LENGTH = 34  # body_etag's length


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    etag: bytes  # with its quotes, as sent

    @classmethod
    def of(cls, body: bytes) -> Entry:
        return cls(body, body_etag(body))

    def pack(self) -> bytes:
        """Redis form: the ETag, then the body, so a layer-2 hit re-hashes nothing."""
        return self.etag + self.body

    @classmethod
    def unpack(cls, raw: bytes) -> Entry | None:
        if len(raw) < ETAG_LENGTH or raw[:1] != b'"' or raw[ETAG_LENGTH - 1 : ETAG_LENGTH] != b'"':
            return None  # not ours, or from another format version: treat as a miss
        return cls(raw[ETAG_LENGTH:], raw[:ETAG_LENGTH])
