"""Production refuses to start without its own secrets: with DATABASE_URL, REDIS_URL or DYNO set, a
missing SECRET_KEY or TOKEN_ENCRYPTION_KEY stops the Procfile's web and worker processes with one line
naming the variable, where a local run (nothing set) still generates its secrets under instance/."""

import os

import pytest

from plugin.config import load_config
from plugin.dev.procfile import process_env, start, stop, wait_until
from plugin.errors import ConfigurationError
from plugin.store.secrets_store import (
    APP_SECRETS,
    production_reasons,
    require_app_secrets,
)

REFUSAL = "print-order mirror refuses to start: "
# Values that would fail at the first connection: the refusal must come before any of them is used.
UNREACHABLE = {
    "DATABASE_URL": "postgres://mirror:secret@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "DYNO": "web.1",
}
# (what makes the process production, which secret is missing)
CASES = [
    ("DATABASE_URL", "SECRET_KEY"),
    ("REDIS_URL", "TOKEN_ENCRYPTION_KEY"),
    ("DYNO", "SECRET_KEY"),
    ("DYNO", "TOKEN_ENCRYPTION_KEY"),
]


def production_env(tmp_path, reason: str, missing: str) -> dict:
    """The Procfile processes' environment with one production marker and one app secret missing."""
    env = process_env({})
    for name in (*UNREACHABLE, *APP_SECRETS):
        env.pop(name, None)
    env[reason] = UNREACHABLE[reason]
    for name in APP_SECRETS:
        if name != missing:
            env[name] = "set-by-the-operator"
    # One web worker: gunicorn 27's master prints a traceback of its own when two workers fail to boot
    # at the same moment (its halt reaps the second one and raises again).
    env.update(INSTANCE_PATH=str(tmp_path / "instance"), PORT="0")
    return env


@pytest.mark.parametrize("reason, missing", CASES, ids=[f"{r}-{m}" for r, m in CASES])
def test_web_and_worker_refuse_to_start_without_a_secret(tmp_path, reason, missing):
    env = production_env(tmp_path, reason, missing)
    processes = {name: start(name, env, str(tmp_path / f"{name}.log")) for name in ("web", "worker")}
    try:
        exited = wait_until(lambda: all(p.poll() is not None for p in processes.values()), timeout=60, interval=0.1)
    finally:
        codes = {name: stop(process) for name, process in processes.items()}
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in processes}
    assert exited, logs
    for name, log in logs.items():
        assert codes[name] != 0, (name, log)
        refusals = {line for line in log.splitlines() if line.startswith(REFUSAL)}
        # One line, naming the variable and why.
        assert len(refusals) == 1, (name, log)
        [line] = refusals
        assert f"{missing} is not set" in line and f"{reason} is set" in line, line
        assert "Traceback" not in log, (name, log)
    # Nothing was generated in its place.
    instance = tmp_path / "instance"
    assert not any((instance / filename).exists() for filename in ("secret_key", "token_encryption_key"))


def test_every_missing_secret_is_named_in_one_error():
    with pytest.raises(ConfigurationError) as refused:
        require_app_secrets(load_config({"REDIS_URL": "rediss://h:6380"}), {})
    message = str(refused.value)
    assert "SECRET_KEY and TOKEN_ENCRYPTION_KEY are not set" in message and "REDIS_URL is set" in message
    assert "\n" not in message


def test_local_runs_and_configured_processes_start():
    # Nothing set: a local run, which generates its secrets under instance/.
    require_app_secrets(load_config({}), {})
    assert production_reasons(load_config({}), {"HOME": "/root"}) == []
    # Both secrets set: production starts.
    configured = {"DATABASE_URL": "postgres://h/d", "SECRET_KEY": "s", "TOKEN_ENCRYPTION_KEY": "k"}
    require_app_secrets(load_config(configured), {"DYNO": "worker.1"})
    # A test's or the sandbox's own settings win over the environment's (an empty DATABASE_URL is SQLite).
    assert production_reasons({"DATABASE_URL": "", "REDIS_URL": ""}, os.environ | {"DATABASE_URL": "x"}) == []
    assert production_reasons({"DATABASE_URL": "", "REDIS_URL": ""}, {"DYNO": "run.1"}) == ["DYNO is set"]
