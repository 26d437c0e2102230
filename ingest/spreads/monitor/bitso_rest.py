"""A small client for Bitso's public REST API v3: envelopes, decimal strings, error shapes."""

from __future__ import annotations

import email.utils
import json
import math
import time

import requests

DEFAULT_TIMEOUT = (2.0, 3.0)  # connect, read (seconds)
# A longer Retry-After is taken as this: a broken header must not silence the monitor for days.
MAX_RETRY_AFTER_SECONDS = 600.0


class BitsoError(Exception):
    """A request that gave no usable payload. `kind` drives the caller's backoff."""

    def __init__(
        self,
        kind: str,
        message: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.kind = kind
        self.url = url
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


def _error_detail(body: object) -> str:
    """'code: message' from an error envelope, whichever of its known shapes it has."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"error {error.get('code', '?')}: {error.get('message', 'no message')}"
    return "no error detail"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date; None when
    absent or unreadable; between 0 and MAX_RETRY_AFTER_SECONDS."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment is None or moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def _retry_after(response: requests.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))


class BitsoRestClient:
    def __init__(
        self,
        base_url: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def available_books(self) -> list[str]:
        path = "/v3/available_books/"
        payload = self._get(path)
        if not isinstance(payload, list):
            raise BitsoError("bad_payload", "payload is not a list", self._url(path))
        return [row["book"] for row in payload if isinstance(row, dict) and "book" in row]

    def tickers(self) -> list[dict]:
        """Every book's ticker in one request (the ticker endpoint called without a book)."""
        path = "/v3/ticker/"
        payload = self._get(path)
        if not isinstance(payload, list):
            raise BitsoError("bad_payload", "payload is not a list", self._url(path))
        return [row for row in payload if isinstance(row, dict)]

    def order_book(self, book: str) -> dict:
        """Every resting order of `book` (`aggregate=false`), with the book's `sequence`."""
        path = f"/v3/order_book/?book={book}&aggregate=false"
        payload = self._get(path)
        if not isinstance(payload, dict):
            raise BitsoError("bad_payload", "payload is not an object", self._url(path))
        return payload

    def close(self) -> None:
        self.session.close()

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _get(self, path: str) -> object:
        url = self._url(path)
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.Timeout as error:
            raise BitsoError("timeout", f"no reply within {self.timeout[1]:g} s", url) from error
        except requests.exceptions.SSLError as error:
            raise BitsoError("tls", f"TLS error ({type(error).__name__})", url) from error
        except requests.ConnectionError as error:
            raise BitsoError("unreachable", "connection failed or refused", url) from error
        except requests.RequestException as error:
            # A body cut short, a bad encoding, a redirect loop, a protocol error, ...
            raise BitsoError(
                "transport", f"request failed ({type(error).__name__})", url
            ) from error
        status = response.status_code
        try:
            body = response.json()
        except (json.JSONDecodeError, requests.JSONDecodeError, ValueError, RecursionError):
            body = None
        if status in (420, 429):
            raise BitsoError(
                "rate_limited",
                f"HTTP {status} rate limited ({_error_detail(body)})",
                url,
                status,
                _retry_after(response),
            )
        if status >= 500:
            raise BitsoError("server_error", f"HTTP {status} server error", url, status)
        if body is None:
            content_type = response.headers.get("Content-Type", "unknown type")
            raise BitsoError(
                "not_json", f"HTTP {status} body is not JSON ({content_type})", url, status
            )
        if status >= 400 or not isinstance(body, dict) or body.get("success") is not True:
            raise BitsoError(
                "api_error",
                f"HTTP {status} success is not true ({_error_detail(body)})",
                url,
                status,
            )
        return body.get("payload")
