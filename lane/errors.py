"""The project's exception hierarchy.

Every error Lajur raises on purpose derives from :class:`LajurError`, so callers can tell our
decisions (a refused close, a malformed frame, an ineligible driver) from bugs.
"""

from __future__ import annotations


class LajurError(Exception):
    """Root of every error Lajur raises deliberately."""


class ConfigError(LajurError):
    """The configuration file or environment holds a value we cannot use."""


class ValidationError(LajurError):
    """A value from outside (NIK, SIM number, plate, payload) is not valid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EligibilityError(LajurError):
    """The driver may not renew here; ``code`` is the refusal reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WorkflowError(LajurError):
    """An action does not fit the visit's current stage (e.g. handing over before printing)."""


class NotPermitted(LajurError):
    """The person asking may not do this (e.g. approve a decision they proposed themselves)."""


class DeviceError(LajurError):
    """A device failed to do what it was asked. ``device`` names it (e.g. ``entry-gate``)."""

    def __init__(self, device: str, message: str, *, fault: str | None = None) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device
        self.message = message
        self.fault = fault


class DeviceOffline(DeviceError):
    """The device does not answer (missed polls, MQTT availability ``offline``, port gone)."""


class DeviceTimeout(DeviceError):
    """The device did not answer or finish in time."""


class WatchdogExpired(DeviceTimeout):
    """Something the lane waits for from the road did not happen in time: a loop edge (a vehicle
    passing under a boom, arriving at the exit) the lane was told to expect. The visit is held with an
    alert saying what is missing and the ways out (it went through: take over; it is gone: vehicle
    left; retry: look again), instead of waiting for ever. ``code`` says what did not happen
    (``not_passed``, ``stood_under_boom``, ``not_arrived``), ``seconds`` after how long."""

    def __init__(self, device: str, message: str, *, code: str, seconds: float) -> None:
        super().__init__(device, message, fault=code)
        self.code = code
        self.seconds = seconds


class DeviceFault(DeviceError):
    """The device reports a fault (ribbon out, jam, paper out, gate fault...). ``fault`` is its code."""


class GateSafetyError(DeviceError):
    """A close was refused because the safety loop under the boom is occupied."""


class ProtocolError(LajurError):
    """Bytes or a payload on the wire do not form a valid frame/message."""


class PersistenceError(LajurError):
    """The database could not store or load lane state."""


class RecordRefused(PersistenceError):
    """The database is there but refuses this record for good (a value it cannot hold, a constraint):
    retrying the same write cannot help, so it is never journaled; the lane holds the visit for an
    officer instead. The message names the record, never its content."""
