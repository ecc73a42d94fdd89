"""Keeping the local server safe on a developer's machine: who may use ``/_emulator/``.

A web page the developer visits must not reset the emulator (and with it a ``--state`` file) or
read ``/_emulator/contacts``. So the admin endpoints answer only when

- the ``Host`` header names a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``) or the
  address the server was told to bind: a DNS-rebinding page sends its own domain name there;
- an ``Origin`` header, if any, is a loopback origin: browsers send one with every cross-site
  ``POST`` (and with ``fetch``), other clients do not send one at all;
- a ``POST`` says ``Content-Type: application/json``: a browser cannot send that cross-site
  without a CORS preflight, which the emulator never grants.

Refusals are ``403`` (Host, Origin) and ``415`` (content type) with a JSON ``{"Message"}``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

ADMIN_PREFIX = "/_emulator/"


def _hostname(authority: str) -> str:
    """``host``, ``host:port``, ``[v6]:port`` -> the host part, lower case, no brackets."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_refusal(request: web.Request, bound_host: str) -> tuple[int, str] | None:
    """Why an admin request is refused (status, message), or None when it may go on."""
    host = _hostname(request.headers.get("Host", ""))
    if not (is_loopback(host) or host == _hostname(bound_host)):
        return 403, "The /_emulator/ endpoints answer only a loopback Host header."
    origin = request.headers.get("Origin")
    if origin is not None:
        origin_host = (urlsplit(origin).hostname or "").lower()
        if not is_loopback(origin_host):
            return 403, "The /_emulator/ endpoints refuse cross-site requests (Origin)."
    if request.method == "POST" and request.content_type != "application/json":
        return 415, "The /_emulator/ endpoints take Content-Type: application/json."
    return None
