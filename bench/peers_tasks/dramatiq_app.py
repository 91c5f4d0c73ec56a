"""Dramatiq with a Redis broker: the ``deliver`` actor as it is usually written.

    PYTHONPATH=bench/peers_tasks dramatiq dramatiq_app --processes 2 --threads 8

Runs inside ``bench/.peers-venv``. ``PEERS_REDIS_URL`` names the broker. Dramatiq's default
middleware (Retries among them) is kept; the Redis broker acknowledges a message after the
actor ran and gives unacknowledged messages of a dead worker back (at least once, like
telepush). Any exception retries with exponential backoff from 1 s, at most 10 minutes
apart, 20 times.
"""

from __future__ import annotations

import os

import dramatiq
import peer_http
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["PEERS_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="deliver", max_retries=20, min_backoff=1_000, max_backoff=600_000)
def deliver(delivery_id: str, body: str) -> None:
    peer_http.push(delivery_id, body)
