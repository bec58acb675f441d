"""A site's MQTT secrets, and Mosquitto's password hashes of them.

The secrets live in a private directory, one file per account named after it (``mpp-batang.lane-1.payment``
holding that device's password): made once by ``lajur broker config`` with random secrets, kept
across runs, and handed out one file at a time: a device's file to whoever sets that device up, the
controller's to the controller's host. No password is ever typed into a TOML file, a URL or a log.

The broker only ever gets hashes, in Mosquitto's own format (``$7$``: PBKDF2-HMAC-SHA512 over a random
salt, as ``mosquitto_passwd`` writes them) so no ``mosquitto_passwd`` binary is needed; the embedded
broker checks the same hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from devices.transport.mqtt import MqttLogin
from lane.errors import ConfigError

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 101
"""What ``mosquitto_passwd`` 2.0 uses. The secrets are 192 random bits, so the count adds nothing an
attacker would notice, while every login on the embedded broker pays for it."""
_SALT_BYTES = 12


def new_secret() -> str:
    """192 random bits, URL-safe: typed into a device's set-up page if need be."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto 2's ``$7$<iterations>$<salt>$<hash>`` line part (base64 salt and PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches a Mosquitto hash (``$7$`` PBKDF2, or the older ``$6$`` salted SHA-512)."""
    parts = hashed.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt, expected = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
            digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
        elif len(parts) == 4 and parts[1] == "6":
            salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            digest = hashlib.sha512(password.encode("utf-8") + salt).digest()
        else:
            return False
    except ValueError:  # a mangled line (binascii.Error is a ValueError)
        return False
    return hmac.compare_digest(digest, expected)


def render_passwd(hashes: Mapping[str, str]) -> str:
    """Mosquitto's ``password_file``: ``username:hash`` lines."""
    return "".join(f"{user}:{hashed}\n" for user, hashed in hashes.items())


def parse_passwd(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed:
            raise ConfigError(f"password file line {number} is not 'user:hash'")
        users[user] = hashed
    return users


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing it whole (never a half-written secret)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # an existing tmp file kept its old mode
    os.replace(tmp, path)


class CredentialsDir:
    """The private directory of a site's MQTT secrets (``[mqtt] credentials_dir``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, username: str) -> Path:
        if not username or "/" in username or username.startswith("."):
            raise ConfigError(f"{username!r} is not an MQTT account name")
        return self.path / username

    def password(self, username: str) -> str:
        """The secret of one account; ConfigError (naming the file, never its content) when missing."""
        path = self.file(username)
        try:
            mode = path.stat().st_mode
            secret = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise ConfigError(f"no MQTT secret for {username} in {self.path} (run `lajur broker config`)") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the MQTT secret {path}: {exc}") from exc
        if not secret:
            raise ConfigError(f"the MQTT secret {path} is empty")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s can be read by other users than its owner (chmod 600 it)", path)
        return secret

    def login(self, username: str) -> MqttLogin:
        return MqttLogin(username, self.password(username))

    def ensure(self, usernames: Iterable[str]) -> list[str]:
        """Make a secret for every account that has none; returns those made. Existing ones are kept:
        devices already set up keep working."""
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        made = []
        for username in usernames:
            if not self.file(username).exists():
                write_private(self.file(username), new_secret() + "\n")
                made.append(username)
        return made

    def rotate(self, username: str) -> None:
        """A new secret for one account (a device replaced, a secret seen by someone it should not be)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_private(self.file(username), new_secret() + "\n")

    def hashes(self, usernames: Iterable[str]) -> dict[str, str]:
        """Mosquitto hashes of the given accounts' secrets (fresh salts each time)."""
        return {username: hash_password(self.password(username)) for username in usernames}
