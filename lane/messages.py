"""The one message catalogue for what drivers read: Bahasa Indonesia first, English second.

Keys are step ids shown on the station displays; the display never shows personal data beyond the plate.
"""

from __future__ import annotations

from lane.ports import DisplayMessage, Signal

CATALOGUE: dict[str, tuple[str, str]] = {
    "idle": ("Selamat datang di SIM Drive-Thru", "Welcome to the SIM drive-through"),
    "wait": ("Mohon tunggu, loket sedang melayani", "Please wait, the window is busy"),
    "enter": ("Silakan maju ke Loket 1", "Please drive to window 1"),
    "plate_check": ("Nomor polisi sedang diperiksa petugas", "An officer is checking your plate"),
    "tap_ektp": ("Tempelkan e-KTP dan serahkan SIM lama", "Tap your e-KTP and hand over your old SIM"),
    "verifying": ("Data sedang diperiksa", "Checking your data"),
    "pay": ("Silakan bayar PNBP di terminal (QRIS/EDC)", "Please pay the fee at the terminal (QRIS/EDC)"),
    "receipt": ("Pembayaran diterima, ambil struk Anda", "Payment received, take your receipt"),
    "to_window_2": ("Silakan maju ke Loket 2", "Please drive to window 2"),
    "capture": ("Foto, sidik jari dan tanda tangan", "Photo, fingerprint and signature"),
    "to_window_3": ("Silakan maju ke Loket 3", "Please drive to window 3"),
    "printing": ("SIM baru sedang dicetak", "Your new SIM is being printed"),
    "handover": ("Terima SIM baru Anda dari petugas", "Collect your new SIM from the officer"),
    "to_exit": ("Silakan menuju pintu keluar", "Please drive to the exit"),
    "exit_open": ("Terima kasih, selamat jalan", "Thank you, drive safely"),
    "refused": ("Perpanjangan tidak dapat diproses, ambil surat rujukan", "Renewal refused, take your referral slip"),
    "aborted": ("Layanan dihentikan petugas, silakan keluar", "Service stopped by the officer, please exit"),
    "held": ("Mohon tunggu, petugas segera datang", "Please wait, an officer is coming"),
}
QUEUE_LINE: tuple[str, str] = ("Antrean: {n} kendaraan, perkiraan tunggu {m} menit",
                               "Queue: {n} vehicles, expected wait {m} min")
"""Appended to the entry sign's text while vehicles wait before the entry."""


def message(station: str, step: str, *, plate: str | None = None, fee: int | None = None,
            signal: Signal = Signal.RED, queue_length: int | None = None,
            expected_wait: int | None = None) -> DisplayMessage:
    text_id, text_en = CATALOGUE[step]
    if fee is not None and step == "pay":
        text_id = f"{text_id}: {format_rupiah(fee)}"
        text_en = f"{text_en}: {format_rupiah(fee)}"
    if queue_length and expected_wait is not None:
        minutes = expected_wait // 60
        text_id = f"{text_id}. {QUEUE_LINE[0].format(n=queue_length, m=minutes)}"
        text_en = f"{text_en}. {QUEUE_LINE[1].format(n=queue_length, m=minutes)}"
        if queue_length == 1:
            text_en = text_en.replace("1 vehicles", "1 vehicle")
    return DisplayMessage(station=station, signal=signal, step=step, text_id=text_id, text_en=text_en,
                          plate=plate, fee=fee, queue_length=queue_length, expected_wait=expected_wait)


def format_rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")
