from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("patient", "doctor", "staff", "admin")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    role: str
    doctor_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role}
