"""Schedules: the rate cap by time of day and weekday, and pause windows, in a named time zone.

``--schedule "mon-fri 08:00-20:00 2/s"`` runs slower while users are about,
``--schedule "* 22:00-06:00 20/s"`` faster at night (a window may cross
midnight: it belongs to the day it starts on), ``--schedule "sat 02:00-04:00
pause"`` sends nothing during a release. Times are ``HH:MM`` or ``HH:MM:SS``
in ``--timezone`` (default UTC); days are ``mon``...``sun``, ranges such as
``mon-fri``, lists such as ``sat,sun``, or ``*``. The first window that holds
wins; outside every window the run's ``--rate`` holds (or no cap).
"""

from __future__ import annotations

import re
from datetime import datetime, time as clock_time, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from engine.errors import ConfigError
from engine.http.rate import RateCap, RateSpec, parse_rate

__all__ = ["Window", "Schedule", "Slot", "parse_window", "time_zone", "rate_cap_for"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"\s*(\S+)\s+(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\d{1,2}:\d{2}(?::\d{2})?)\s+(.+?)\s*")
_EXAMPLE = 'such as "mon-fri 08:00-20:00 2/s" or "sat 02:00-04:00 pause"'


@attrs.frozen
class Window:
    days: frozenset[int]       # 0 = Monday
    start: clock_time
    end: clock_time
    rate: RateSpec | None      # None: a pause
    text: str

    def holds(self, moment: datetime) -> bool:
        now, day = moment.time(), moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # Crosses midnight: from start on a listed day until end on the next.
        return (day in self.days and now >= self.start) or ((day - 1) % 7 in self.days and now < self.end)

    def ends_after(self, moment: datetime) -> datetime:
        """When this window, holding at ``moment``, ends."""
        end = moment.replace(hour=self.end.hour, minute=self.end.minute, second=self.end.second, microsecond=0)
        return end if end > moment else end + timedelta(days=1)


@attrs.frozen
class Slot:
    """What holds now: the rate (None: no cap), whether it is a pause, and which window says so."""

    rate: RateSpec | None
    paused: bool
    window: str          # the window's text, or "" outside every window
    until: datetime | None = None  # when a pause ends

    def describe(self) -> str:
        if self.paused:
            return f"paused ({self.window}) until {self.until:%H:%M:%S}" if self.until else f"paused ({self.window})"
        cap = f"cap {self.rate}" if self.rate else "no cap"
        return f"{cap} ({self.window})" if self.window else cap


def time_zone(name: str) -> ZoneInfo | timezone:
    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone {name!r}: not a time zone name; use one such as Europe/Berlin, "
                          "America/New_York or UTC") from None


def _days(text: str) -> frozenset[int]:
    if text == "*":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(part)
        start, stop = DAYS.index(first), DAYS.index(last or first)
        days.update(range(start, stop + 1) if start <= stop else [*range(start, 7), *range(0, stop + 1)])
    return frozenset(days)


def _clock(text: str) -> clock_time:
    return clock_time(*(int(part) for part in text.split(":")))


def parse_window(text: str) -> Window:
    match = _WINDOW.fullmatch(text)
    try:
        if not match:
            raise ValueError(text)
        days, start, end = _days(match.group(1)), _clock(match.group(2)), _clock(match.group(3))
    except ValueError:
        raise ConfigError(f"--schedule {text!r}: write DAYS START-END RATE or pause, {_EXAMPLE}") from None
    if start == end:
        raise ConfigError(f"--schedule {text!r}: the window starts and ends at the same time")
    what = match.group(4).strip()
    rate = None if what.lower() == "pause" else parse_rate(what)
    return Window(days=days, start=start, end=end, rate=rate, text=text.strip())


class Schedule:
    """The windows, in order, over the run's base rate; ``now`` is for tests."""

    def __init__(self, windows: list[Window], *, zone: ZoneInfo | timezone = timezone.utc,
                 base: RateSpec | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.windows = windows
        self.zone = zone
        self.base = base
        self._now = now or (lambda: datetime.now(timezone.utc))

    def slot(self) -> Slot:
        moment = self._now().astimezone(self.zone)
        for window in self.windows:
            if window.holds(moment):
                return Slot(rate=window.rate, paused=window.rate is None, window=window.text,
                            until=window.ends_after(moment) if window.rate is None else None)
        return Slot(rate=self.base, paused=False, window="")


def rate_cap_for(rate: str | None, schedule: tuple[str, ...] = (), timezone_name: str = "UTC", *,
                 shared_state: str | None = None) -> RateCap | None:
    """The run's cap from its settings (None: no cap and no schedule); ConfigError if one is bad."""
    if not rate and not schedule:
        return None
    base = parse_rate(rate) if rate else None
    windows = [parse_window(window) for window in schedule]
    return RateCap(base, schedule=Schedule(windows, zone=time_zone(timezone_name), base=base) if windows else None,
                   shared_state=shared_state)
