"""The `telepush` command as an operator uses it, against a real SQLite file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.procs import Process, free_port, request, telepush_cmd, wait_until
from tests.support.servers import black_hole

pytestmark = pytest.mark.e2e

CUSTOMER = {
    "customerId": "acme",
    "name": "Acme",
    "auth": {
        "type": "oauth2",
        "url": "https://127.0.0.1:9/token",
        "clientId": "acme",
        "clientSecret": "cli-s3cret",
    },
    "services": {
        "trip": {"url": "https://127.0.0.1:9/push/trip"},
        "crash": {"url": "https://127.0.0.1:9/push/crash"},
    },
}
TOML_CUSTOMER = """
customerId = "fleet"
name = "Fleet Co"
acceptedStatus = "2xx"
[auth]
type = "basic"
username = "fleet"
password = "toml-pa55"
[services.diagnosis]
url = "https://127.0.0.1:9/push/diagnosis"
"""


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEPUSH_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("TELEPUSH_API_TOKEN", None)
    return subprocess.run(
        telepush_cmd(*args), env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_help_explains_every_command(tmp_path: Path) -> None:
    """--help works for the root and each command and names the settings."""
    root = cli(tmp_path, "--help")
    assert root.returncode == 0 and "TELEPUSH_" in root.stdout
    for command in ("serve", "worker", "migrate", "push", "receiver", "customers", "deliveries"):
        out = cli(tmp_path, command, "--help")
        assert out.returncode == 0, (command, out.stderr)
        assert "Usage" in out.stdout


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    """migrate applies the schema once; running it again changes nothing."""
    first = cli(tmp_path, "migrate")
    assert first.returncode == 0 and "applied" in first.stdout
    again = cli(tmp_path, "migrate")
    assert again.returncode == 0 and "up to date" in again.stdout


def test_customers_apply_json_and_toml_list_and_show(tmp_path: Path) -> None:
    """Customers applied from JSON and TOML files are listed and shown without secrets."""
    (tmp_path / "acme.json").write_text(json.dumps(CUSTOMER))
    (tmp_path / "fleet.toml").write_text(TOML_CUSTOMER)
    out = cli(tmp_path, "customers", "apply", str(tmp_path / "acme.json"))
    assert out.returncode == 0 and "acme: created" in out.stdout
    assert cli(tmp_path, "customers", "apply", str(tmp_path / "fleet.toml")).returncode == 0
    again = cli(tmp_path, "customers", "apply", str(tmp_path / "acme.json"))
    assert "revision 2" in again.stdout
    listing = cli(tmp_path, "customers", "list").stdout
    assert "acme" in listing and "fleet" in listing and "2xx" in listing
    shown = cli(tmp_path, "customers", "show", "acme")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["auth"]["clientId"] == "acme"
    assert "cli-s3cret" not in shown.stdout + listing
    db = (tmp_path / "telepush.db").read_bytes()
    assert b"cli-s3cret" not in db and b"toml-pa55" not in db


@pytest.mark.parametrize(
    "content,message",
    [
        ({**CUSTOMER, "services": {"trip": {"url": "http://x.example/p"}}}, "services.trip.url"),
        ({**CUSTOMER, "auth": {"type": "basic", "username": "u"}}, "auth.password"),
        ({k: v for k, v in CUSTOMER.items() if k != "customerId"}, "customerId"),
        ("{not json", "not valid JSON"),
    ],
)
def test_customers_apply_refuses_bad_files(tmp_path: Path, content: object, message: str) -> None:
    """A bad customer file exits 2 with a one-line message naming the problem; nothing saved."""
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    out = cli(tmp_path, "customers", "apply", str(path))
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert "acme" not in cli(tmp_path, "customers", "list").stdout


def test_push_ndjson_json_and_stdin_then_inspect(tmp_path: Path) -> None:
    """push queues NDJSON, a single JSON document and stdin; bad lines are reported by number;
    deliveries list/show read them back; retry of a pending one is refused clearly."""
    (tmp_path / "acme.json").write_text(json.dumps(CUSTOMER))
    cli(tmp_path, "customers", "apply", str(tmp_path / "acme.json"))
    ndjson = tmp_path / "trips.ndjson"
    ndjson.write_text('{"itinId": "t1"}\n{"itinId": "t2"}\n{"nope": 1}\n{"itinId": "t3"}\n')
    out = cli(tmp_path, "push", "acme", "trip", str(ndjson), "--chunk", "2")
    assert out.returncode == 1  # one document was rejected
    assert "accepted 3" in out.stdout and "rejected 1" in out.stdout
    assert "#3" in out.stderr and "itinId" in out.stderr
    single = tmp_path / "crash.json"
    single.write_text('{"crashId": "c-1", "crashStatus": "CONFIRMED"}')
    assert "accepted 1" in cli(tmp_path, "push", "acme", "crash", str(single)).stdout
    piped = cli(tmp_path, "push", "acme", "trip", "-", stdin='[{"itinId": "s1"}]')
    assert piped.returncode == 0 and "accepted 1" in piped.stdout

    listing = cli(tmp_path, "deliveries", "list", "--service", "trip")
    assert listing.returncode == 0 and "pending" in listing.stdout
    rows = [
        json.loads(line)
        for line in cli(
            tmp_path, "deliveries", "list", "--service", "trip", "--json"
        ).stdout.splitlines()
    ]
    assert sorted(r["key"] for r in rows) == ["s1", "t1", "t2", "t3"]
    assert {r["status"] for r in rows} == {"pending"}
    unknown = cli(tmp_path, "push", "acme", "trips", str(single))
    assert unknown.returncode == 2 and "unknown service" in unknown.stderr

    db_id = rows[0]["deliveryId"]
    shown = cli(tmp_path, "deliveries", "show", db_id)
    assert shown.returncode == 0 and "pending" in shown.stdout and db_id in shown.stdout
    retry = cli(tmp_path, "deliveries", "retry", db_id)
    assert retry.returncode == 2 and "failed" in retry.stderr
    missing = cli(tmp_path, "deliveries", "show", "no-such-id")
    assert missing.returncode == 2 and "[deliveryId]" in missing.stderr


def test_serve_generates_a_private_api_token_and_stops_gracefully(tmp_path: Path) -> None:
    """serve writes the API token 0600 and says where; on SIGTERM attempts in flight are
    released (not lost, not counted) and the process exits 0."""
    port = free_port()
    env = {
        "TELEPUSH_DATA_DIR": str(tmp_path),
        "TELEPUSH_PORT": str(port),
        "TELEPUSH_ALLOW_PRIVATE_NETWORKS": "true",
        "TELEPUSH_SHUTDOWN_GRACE_S": "0.5",
        "TELEPUSH_TOTAL_TIMEOUT_S": "30",
        "TELEPUSH_LEASE_S": "60",
    }
    with black_hole() as dead:
        proc = Process(telepush_cmd("serve"), env, tmp_path / "serve.log").start()
        token_file = tmp_path / "api-token"
        wait_until(lambda: token_file.exists() and f"{port}" in proc.log(), what="serve to start")
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "telepush.db").stat().st_mode) == 0o600
        assert str(token_file) in proc.log()
        token = token_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        config = {
            **CUSTOMER,
            "auth": {"type": "basic", "username": "u", "password": "p"},
            "services": {"trip": {"url": dead + "/push/trip"}},
        }
        config.pop("customerId")
        base = f"http://127.0.0.1:{port}"
        assert (
            request("PUT", base + "/v1/customers/acme", body=config, headers=headers).status == 201
        )
        resp = request(
            "POST",
            base + "/v1/customers/acme/push/trip/batch",
            body=[{"itinId": f"t{i}"} for i in range(3)],
            headers=headers,
        )
        ids = [i["deliveryId"] for i in resp.json()["items"]]
        wait_until(
            lambda: (
                len(
                    request("GET", base + "/v1/deliveries?status=sending", headers=headers).json()[
                        "items"
                    ]
                )
                == 3
            ),
            what="the three attempts to be in flight",
        )
        assert proc.stop(timeout_s=15) == 0
    assert "released 3" in proc.log()
    for delivery_id in ids:
        shown = json.loads(cli(tmp_path, "deliveries", "show", delivery_id, "--json").stdout)
        assert shown["status"] == "pending"
        assert shown["attemptCount"] == 0 and shown["attempts"] == []


def test_serve_on_a_busy_port_says_so(tmp_path: Path) -> None:
    """A port already in use is a one-line error naming the setting, exit code 2."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "TELEPUSH_DATA_DIR": str(tmp_path), "TELEPUSH_PORT": str(port)}
        out = subprocess.run(
            telepush_cmd("serve"), env=env, capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "TELEPUSH_PORT" in out.stderr
    assert "Traceback" not in out.stderr
