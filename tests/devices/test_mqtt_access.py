"""A site's broker accounts, their rules, secrets and Mosquitto's password hashes (pure logic, and the
hashes checked against the real ``mosquitto_passwd`` where installed)."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest

from devices.mqtt_access import device_account, parse_acl, render_acl, site_accounts
from devices.mqtt_codec import Topics
from devices.mqtt_secrets import CredentialsDir, hash_password, parse_passwd, verify_password
from lane.errors import ConfigError

SITE = "mpp-batang"


def test_a_device_writes_only_its_own_topics_and_reads_only_its_own_commands() -> None:
    payment = device_account(Topics(SITE, "lane-1", "payment"))
    assert payment.username == "mpp-batang.lane-1.payment"
    for kind in ("availability", "state", "ack", "event"):
        assert payment.may_write(f"lajur/{SITE}/lane-1/payment/{kind}")
    assert payment.may_read(f"lajur/{SITE}/lane-1/payment/cmd")
    assert not payment.may_write(f"lajur/{SITE}/lane-1/payment/cmd")
    assert not payment.may_write(f"lajur/{SITE}/lane-2/payment/event")
    assert not payment.may_write(f"lajur/{SITE}/lane-1/exit-gate/cmd")
    assert not payment.may_read(f"lajur/{SITE}/lane-1/card-reader/event")


def test_a_display_reads_the_picture_the_controller_writes_and_cannot_write_it() -> None:
    display = device_account(Topics(SITE, "lane-1", "display-window-1"))
    assert display.may_read(f"lajur/{SITE}/lane-1/display-window-1/state")
    assert display.may_write(f"lajur/{SITE}/lane-1/display-window-1/availability")
    assert not display.may_write(f"lajur/{SITE}/lane-1/display-window-1/state")


def test_only_the_controller_reads_card_events_and_the_technician_writes_nothing() -> None:
    accounts = {a.username: a for a in site_accounts(SITE, {"lane-1": ["card-reader", "display-exit"]})}
    card = f"lajur/{SITE}/lane-1/card-reader/event"
    assert [name for name, a in accounts.items() if a.may_read(card)] == ["mpp-batang.controller"]
    controller, technician = accounts["mpp-batang.controller"], accounts["mpp-batang.technician"]
    assert controller.may_write(f"lajur/{SITE}/lane-1/exit-gate/cmd")
    assert controller.may_write(f"lajur/{SITE}/lane-1/display-exit/state")
    assert not controller.may_write(f"lajur/{SITE}/lane-1/payment/event")
    assert technician.may_read(f"lajur/{SITE}/lane-3/payment/availability")
    assert technician.may_read(f"lajur/{SITE}/lane-3/entry-gate/state")
    assert not technician.writes and not technician.may_read(card)
    assert not technician.may_read("lajur/other-site/lane-1/payment/state")


def test_the_acl_file_reads_back_as_the_same_rules_and_anything_else_is_refused() -> None:
    accounts = site_accounts(SITE, {"lane-1": ["payment", "display-entry"], "lane-2": ["entry-gate"]},
                             controllers=["controller-1", "controller-2"])
    text = render_acl(accounts, SITE)
    assert "user mpp-batang.lane-2.entry-gate\ntopic read lajur/mpp-batang/lane-2/entry-gate/cmd\n" in text
    back = parse_acl(text)
    assert [(a.username, a.reads, a.writes) for a in accounts] == [
        (back[a.username].username, back[a.username].reads, back[a.username].writes) for a in accounts]
    for bad in ("pattern read lajur/%u/#", "user x\ntopic deny lajur/#", "topic read lajur/#"):
        with pytest.raises(ConfigError):
            parse_acl(bad)


def test_account_names_are_refused_when_they_would_break_the_acl_or_a_file_name() -> None:
    for site in ("a b", "a/b", "a:b", ""):
        with pytest.raises(ConfigError):
            site_accounts(site, {"lane-1": ["payment"]})


def test_mosquitto_hashes_verify_and_a_wrong_secret_does_not() -> None:
    hashed = hash_password("s3cret", salt=bytes(range(12)))
    assert hashed.startswith("$7$101$AAECAwQFBgcICQoL$") and len(hashed.split("$")[4]) == 88
    assert verify_password("s3cret", hashed) and not verify_password("s3cret!", hashed)
    assert not verify_password("s3cret", "$7$101$not-base64$x") and not verify_password("s3cret", "plain")
    assert parse_passwd(f"# c\nuser:{hashed}\n") == {"user": hashed}
    with pytest.raises(ConfigError):
        parse_passwd("no-colon-here\n")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_hashes_written_by_mosquitto_passwd_verify_here(tmp_path) -> None:
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "tech", "watch-only"], check=True)
    [(user, hashed)] = parse_passwd(passwd.read_text()).items()
    assert user == "tech" and verify_password("watch-only", hashed) and not verify_password("other", hashed)


def test_secrets_are_made_once_private_and_kept_until_rotated(tmp_path) -> None:
    creds = CredentialsDir(tmp_path / "credentials")
    assert creds.ensure(["s.controller", "s.lane-1.payment"]) == ["s.controller", "s.lane-1.payment"]
    first = creds.password("s.lane-1.payment")
    assert len(first) >= 32
    assert creds.ensure(["s.controller", "s.lane-1.payment", "s.technician"]) == ["s.technician"]
    assert creds.password("s.lane-1.payment") == first
    assert stat.S_IMODE(creds.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(creds.file("s.controller").stat().st_mode) == 0o600
    creds.rotate("s.lane-1.payment")
    assert creds.password("s.lane-1.payment") != first
    assert "password=" not in repr(creds.login("s.controller"))
    with pytest.raises(ConfigError) as missing:
        creds.password("s.lane-9.payment")
    assert "lajur broker config" in str(missing.value)
