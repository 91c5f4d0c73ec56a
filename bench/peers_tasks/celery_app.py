"""Celery with a Redis broker: the ``deliver`` task as it is usually written.

    PYTHONPATH=bench/peers_tasks celery -A celery_app worker --pool prefork --concurrency 8

Runs inside ``bench/.peers-venv``. ``PEERS_REDIS_URL`` names the broker. At-least-once like
telepush: the message is acknowledged after the task ran (``acks_late``) and given back if
its worker process dies (``task_reject_on_worker_lost``); any exception (connection error,
non-200) retries with Celery's exponential backoff (1 s, 2 s, 4 s, … with jitter, at most
10 minutes apart, 20 times). No result backend: nobody reads results.
"""

from __future__ import annotations

import os

import peer_http
from celery import Celery

app = Celery("telepush_bench_peers", broker=os.environ["PEERS_REDIS_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)


@app.task(
    bind=True,
    name="deliver",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=20,
    acks_late=True,
    task_reject_on_worker_lost=True,
)
def deliver(self, delivery_id: str, body: str) -> None:
    peer_http.push(delivery_id, body, attempt=self.request.retries + 1)
