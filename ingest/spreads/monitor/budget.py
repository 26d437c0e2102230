"""A per-minute request budget that holds over every sliding 60-second window."""

from __future__ import annotations

from collections import deque

WINDOW_SECONDS = 60.0


class RequestBudget:
    """At most `per_minute` requests in any 60 seconds, spread evenly rather than in bursts.

    Bitso counts public requests per IP over one-minute windows and locks the IP out for a minute
    when they pass 60, so every request the monitor makes, failed or not, is spent here first.
    """

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("the request budget must be at least 1 per minute")
        self.per_minute = per_minute
        self.spacing = WINDOW_SECONDS / per_minute
        self._sent: deque[float] = deque()

    def next_allowed(self, now: float) -> float:
        """The earliest time (epoch seconds, never before `now`) the next request may go out."""
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()
        earliest = now
        if self._sent:
            earliest = max(earliest, self._sent[-1] + self.spacing)
        if len(self._sent) >= self.per_minute:
            # Strictly after the oldest request leaves the window.
            earliest = max(earliest, self._sent[-self.per_minute] + WINDOW_SECONDS + 1e-3)
        return earliest

    def sent_in_last_minute(self, now: float) -> int:
        """Requests sent in the 60 seconds before `now`. Read-only, so another thread (the metrics
        endpoint) may ask while the source spends."""
        return sum(1 for sent in tuple(self._sent) if sent > now - WINDOW_SECONDS)

    def spend(self, now: float) -> None:
        """Record a request sent at `now`; call only once `next_allowed(now) <= now`."""
        self._sent.append(now)
