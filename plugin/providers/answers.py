"""What every provider client does with HTTP alike: send with the account's secret kept out of errors, read answers."""

from __future__ import annotations

from typing import TypeVar

import requests

from plugin.errors import ProviderError, TransientError
from plugin.http import send

T = TypeVar("T")


def blank(text: str, secret: str, label: str) -> str:
    """text with the secret replaced by a label, should a provider ever echo it back."""
    return text.replace(secret, label) if secret else text


def send_blanking(
    session: requests.Session, method: str, url: str, *, secret: str, label: str, what: str, **kwargs
) -> requests.Response:
    """plugin.http.send, but a TransientError whose message would carry the secret (an echoing 5xx or 429 body)
    is raised again without it, and without the chain that holds it."""
    try:
        return send(session, method, url, what=what, **kwargs)
    except TransientError as exc:
        if not secret or secret not in str(exc):
            raise
        raise type(exc)(blank(str(exc), secret, label), retry_after=exc.retry_after) from None


def result_of(response: requests.Response, what: str, results: dict[int, T], summary: str) -> T:
    """The result the status code stands for; any other status is a permanent ProviderError quoting summary."""
    try:
        return results[response.status_code]
    except KeyError:
        raise ProviderError(f"{what}: HTTP {response.status_code} {summary}") from None


def json_body(response: requests.Response, what: str) -> object:
    """The answer's JSON; ProviderError when it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(f"{what}: answer is not JSON") from exc


def json_object(response: requests.Response, what: str) -> dict:
    """The answer's JSON object; ProviderError for anything else."""
    body = json_body(response, what)
    if not isinstance(body, dict):
        raise ProviderError(f"{what}: answer is not a JSON object")
    return body


def optional_text(value: object) -> str | None:
    """A string or an integer as text (ids come as either); None for anything else, a bool included."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return None
