"""Delivery: one HTTPS attempt per call, TLS >= 1.2, private networks refused, OAuth2 tokens.

The only package that speaks HTTP to customers (and the only one importing aiohttp).
"""

from telepush.delivery.auth import TokenCache, TokenError
from telepush.delivery.guard import BlockedDestination, GuardedResolver, is_refused_ip
from telepush.delivery.sender import PushRequest, Sender
from telepush.delivery.tls import client_ssl_context

__all__ = [
    "BlockedDestination",
    "GuardedResolver",
    "PushRequest",
    "Sender",
    "TokenCache",
    "TokenError",
    "client_ssl_context",
    "is_refused_ip",
]
