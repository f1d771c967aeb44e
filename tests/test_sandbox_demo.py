"""`python3 manage.py run` without credentials: sandbox mode, the demo through the real web and worker, its table."""

import json
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from plugin import create_app
from plugin.dev.local import parse_args, wants_sandbox
from plugin.dev.procfile import ROOT
from plugin.dev.sandbox import SANDBOX_SHOP, Sandbox, real_setup
from plugin.dev.sandbox_demo import TABLE_COLUMNS  # the table's own header: the parser reads what the demo prints
from plugin.store.migrate import upgrade
from plugin.store.shops import install_shop


def run_local(instance_path, *args, **env):
    """`python -m plugin.dev.local …` (what `manage.py run` runs) with no credentials unless given."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHOPIFY_", "GELATO_")) and k not in ("DATABASE_URL", "REDIS_URL", "PORT")
    }
    clean.update(INSTANCE_PATH=str(instance_path), PYTHONUNBUFFERED="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "plugin.dev.local", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=180
    )


def parse_table(output: str) -> list[dict]:
    """The demo's table as one dict per scenario; continuation lines (more print orders) are folded in."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  what happened"))
    header, positions, cursor = lines[start], [], 0
    for name in TABLE_COLUMNS:
        cursor = header.index(name, cursor)
        positions.append(cursor)
        cursor += len(name)
    bounds = list(zip(positions, [*positions[1:], None]))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = {name: line[a:b].strip() for name, (a, b) in zip(TABLE_COLUMNS, bounds)}
        if cells["#"]:
            cells["print statuses"] = [cells["print status"]]
            rows.append(cells)
        else:
            rows[-1]["print statuses"].append(cells["print status"])
    return rows


def test_demo_mirrors_every_scenario_through_the_real_web_and_worker(tmp_path):
    result = run_local(tmp_path, "--demo-only", "--port", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.lstrip().startswith("#####") and "SANDBOX MODE" in result.stdout.split("\n", 3)[1]
    rows = {row["what happened in the store"]: row for row in parse_table(result.stdout)}
    assert list(rows) == [
        "cancelled in time",
        "cancelled too late",
        "split order cancelled",
        "address changed too late",
        "cancellation delivered twice",
    ]
    expected = {
        "cancelled in time": (["canceled"], "-", "print-cancelled"),
        "cancelled too late": (["in_production"], "customer note kept + 1 paragraph", "print-cancel-too-late"),
        "split order cancelled": (["canceled", "shipped"], "1 paragraph", "print-cancel-too-late"),
        "address changed too late": (["printed"], "1 paragraph", "print-change-too-late"),
        "cancellation delivered twice": (["printed"], "customer note kept + 1 paragraph", "print-cancel-too-late"),
    }
    assert {title: (row["print statuses"], row["order note"], row["tags"]) for title, row in rows.items()} == expected
    assert all(row["outcome"].startswith("as expected") for row in rows.values())
    assert "2nd delivery answered duplicate" in rows["cancellation delivered twice"]["outcome"]
    # The paragraphs themselves are shown, under the table.
    appended = result.stdout.split("What the app appended to the order notes")[1]
    assert appended.count("[pm-") == 4 and "too late to cancel" in appended and "Louisville" in appended

    # The table is what the app did: its own activity log in the sandbox database agrees.
    sandbox = tmp_path / "sandbox"
    engine = create_engine(f"sqlite:///{sandbox / 'print_mirror.db'}")
    with engine.connect() as connection:
        activity = connection.execute(
            text("SELECT store_order_id, topic, outcome FROM activity WHERE shop = :shop ORDER BY id"), {"shop": SANDBOX_SHOP}
        ).all()
    engine.dispose()
    outcomes = {}
    for order_id, topic, outcome in activity:
        outcomes.setdefault(order_id, []).append((topic, outcome))
    order_ids = {title: row["order id"] for title, row in rows.items()}
    assert outcomes[order_ids["cancelled in time"]] == [("orders/cancelled", "cancelled")]
    assert outcomes[order_ids["cancelled too late"]] == [("orders/cancelled", "too_late")]
    assert sorted(outcomes[order_ids["split order cancelled"]]) == [
        ("orders/cancelled", "cancelled"),
        ("orders/cancelled", "too_late"),
    ]
    assert outcomes[order_ids["cancellation delivered twice"]] == [("orders/cancelled", "too_late")]  # one job
    assert {topic for topic, _ in outcomes[order_ids["address changed too late"]]} == {"orders/updated"}
    # Signed webhooks really went through the gunicorn web process: its JSON lines say so.
    received = [json.loads(line) for line in (sandbox / "web.log").read_text().splitlines() if line.startswith("{")]
    assert sorted(e["result"] for e in received if e["event"] == "webhook") == ["duplicate"] + ["enqueued"] * 6
    # Nothing keeps running after the demo: the sandbox's embedded Redis is gone with its processes.
    socket_path = json.loads((sandbox / "redis.db.settings").read_text())["unixsocket"]
    assert not os.path.exists(socket_path)


@pytest.mark.parametrize(
    "provider, statuses, name",
    [
        ("printful", {"cancelled in time": ["canceled"], "cancelled too late": ["inprocess"]}, "Printful"),
        ("printify", {"cancelled in time": ["canceled"], "split order cancelled": ["canceled", "fulfilled"]}, "Printify"),
    ],
)
def test_demo_runs_against_each_simulated_provider(tmp_path, provider, statuses, name):
    result = run_local(tmp_path, "--demo-only", "--port", "0", "--provider", provider)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"shops connect: sandbox-demo.myshopify.com: connected to {name}" in result.stdout
    rows = {row["what happened in the store"]: row for row in parse_table(result.stdout)}
    assert {title: rows[title]["print statuses"] for title in statuses} == statuses
    assert all(row["outcome"].startswith("as expected") for row in rows.values())
    appended = result.stdout.split("What the app appended to the order notes")[1]
    assert f"{name} print order" in appended and "Gelato" not in appended


def test_sandbox_is_refused_when_real_credentials_are_set(tmp_path):
    result = run_local(tmp_path, "--demo-only", GELATO_API_KEY="a-real-gelato-key")
    assert result.returncode == 2
    assert "sandbox mode refused" in result.stderr and "GELATO_API_KEY is set" in result.stderr
    assert "SANDBOX MODE" not in result.stdout
    assert not (tmp_path / "sandbox").exists()  # nothing was started or written


def test_real_setup_names_credentials_databases_and_installed_shops(tmp_path):
    assert real_setup({}, str(tmp_path)) == []
    assert real_setup({"SHOPIFY_API_SECRET": "s", "GELATO_API_KEY": " "}, str(tmp_path)) == ["SHOPIFY_API_SECRET is set"]
    assert real_setup({"SHOPIFY_ADMIN_TOKEN": "shpat_x"}, str(tmp_path)) == ["SHOPIFY_ADMIN_TOKEN is set"]
    assert "DATABASE_URL is set" in real_setup({"DATABASE_URL": "postgres://u:p@h/db"}, str(tmp_path))[0]
    # A shop installed in the local database (e.g. with `shops add`) is a real setup too.
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "", "REDIS_URL": ""})
    database = app.extensions["database"]
    upgrade(database.url)
    assert real_setup({}, str(tmp_path)) == []
    install_shop(database, app.extensions["services"].cipher, "real-store.myshopify.com", "shpat_real")
    database.dispose()
    [reason] = real_setup({}, str(tmp_path))
    assert reason.startswith("1 shop(s) installed")


def test_sandbox_mode_is_the_default_only_without_a_real_setup():
    assert wants_sandbox(parse_args([]), [])
    assert not wants_sandbox(parse_args([]), ["SHOPIFY_API_SECRET is set"])
    assert not wants_sandbox(parse_args(["--no-sandbox"]), [])
    # Asked for explicitly it is attempted, and then refused by require_no_real_setup (see above).
    assert wants_sandbox(parse_args(["--sandbox"]), ["SHOPIFY_API_SECRET is set"])
    with pytest.raises(SystemExit):
        parse_args(["--sandbox", "--no-sandbox"])


def test_sandbox_processes_see_only_sandbox_settings(tmp_path):
    base = {
        "PATH": "/usr/bin",
        "DATABASE_URL": "postgres://real",
        "REDIS_URL": "rediss://real",
        "SHOPIFY_SCOPES": "x",
        "SHOPIFY_ADMIN_TOKEN": "shpat_real",
        "GELATO_API_URL": "https://order.gelatoapis.com",
        "PORT": "80",
    }
    sandbox = Sandbox(str(tmp_path)).start()
    try:
        env = sandbox.process_env(base, app_url="http://127.0.0.1:5000", redis_url="unix:///tmp/r.sock", port=5000)
    finally:
        sandbox.stop()
    assert env["PATH"] == "/usr/bin" and env["INSTANCE_PATH"] == str(tmp_path)
    assert "DATABASE_URL" not in env and "SHOPIFY_ADMIN_TOKEN" not in env and "SHOPIFY_SCOPES" not in env
    assert env["REDIS_URL"] == "unix:///tmp/r.sock" and env["PORT"] == "5000"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env["GELATO_API_URL"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\{shop\}", env["SHOPIFY_ADMIN_URL"])
    assert env["SHOPIFY_API_SECRET"].startswith("sandbox-") and env["GELATO_API_KEY"].startswith("sandbox-")
