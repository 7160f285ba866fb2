"""Who is calling: the signed-in user and their role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from careslot.schemas import Model


class Role(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    STAFF = "staff"
    ADMIN = "admin"


ROLES = tuple(Role)
STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})


class UserOut(Model):
    """A user on the wire: {id, email, name, role}."""

    id: int
    email: str
    name: str
    role: Role


class SignedIn(Model):
    """What register and login answer: the user and their session token."""

    user: UserOut
    token: str


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    role: Role
    doctor_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_doctor(self) -> bool:
        return self.role == Role.DOCTOR

    def public(self) -> UserOut:
        return UserOut(id=self.id, email=self.email, name=self.name, role=self.role)
