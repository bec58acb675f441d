"""Health, logging in, and the accounts page's shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import FullName, Password, Role, Text


# ================================================================ health
class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    database: bool
    broker: bool | None = Field(description="null: no MQTT device in this process")
    devices: dict[str, dict[str, bool]] = Field(description="lane -> device -> online")
    offline: list[str] = Field(description="lane/device of every device not answering")


# ================================================================ auth
class LoginBody(BaseModel):
    username: Text(64, 1)  # type: ignore[valid-type]
    password: Text(200, 1)  # type: ignore[valid-type]


class Session(BaseModel):
    username: str
    role: str
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    csrf_token: str = Field(description="cookie sessions echo it in `X-CSRF-Token`")
    expires_in: int = Field(description="seconds")


class Me(BaseModel):
    username: str
    role: str
    permissions: list[str]
    sees_personal_data: bool
    fault_injection: bool = Field(description="the technician page may inject simulator faults (demo)")
    language: str = Field("id", description="the pages' language for this account: id (Bahasa Indonesia) or en")
    timezone: str = Field("Asia/Jakarta", description="the site's time zone: the pages show its times")


class LanguageChoice(BaseModel):
    language: Literal["id", "en"]


# ================================================================ users
class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    role: Role
    password: Password  # type: ignore[valid-type]
    full_name: FullName | None = None  # type: ignore[valid-type]


class UserUpdate(BaseModel):
    role: Role | None = None
    password: Password | None = None  # type: ignore[valid-type]
    disabled: bool | None = None
    full_name: FullName | None = None  # type: ignore[valid-type]


class AccountOut(BaseModel):
    username: str
    role: str
    full_name: str | None
    disabled: bool
    created_at: str


class UserDeleted(BaseModel):
    ok: bool
    username: str
