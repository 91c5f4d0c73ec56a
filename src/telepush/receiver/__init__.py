"""The receiver kit: a ready, production-minded reference of the customer's side.

It receives telepush's pushes: an OAuth2 client-credentials token endpoint (or HTTP Basic),
one push endpoint per service, validation against the service models, durable idempotent
storage in SQLite or PostgreSQL (200 only once committed) and a small read API over what was
stored.

    from telepush.receiver import ReceiverSettings, create_app, serve

    settings = ReceiverSettings(client_id="acme", client_secret="...", database="acme.db")
    serve(settings, host="0.0.0.0", port=8443, certfile="cert.pem", keyfile="key.pem")

``create_app(settings)`` is the ASGI app; ``ReceiverThread`` runs it on a background thread
(tests, demos); ``ensure_dev_certificates`` makes a local CA and a localhost certificate.
The ``/_control/`` API (``enable_control=True``) has no authentication: tests and demos only.
"""

from telepush.receiver.app import create_app
from telepush.receiver.server import ReceiverThread, serve
from telepush.receiver.settings import ReceiverSettings
from telepush.receiver.tls import ensure_dev_certificates

__all__ = ["ReceiverSettings", "ReceiverThread", "create_app", "ensure_dev_certificates", "serve"]
