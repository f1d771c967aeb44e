"""With REDIS_URL and DATABASE_URL unset, the app runs on an embedded Redis and SQLite under instance/."""

import subprocess
import sys

from plugin import create_app
from plugin.dev.procfile import ROOT


def test_embedded_redis_is_shared_between_processes(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "", "DATABASE_URL": "", "SHOPIFY_API_SECRET": "x"}
    app = create_app(config)
    url = app.config["RESOLVED_REDIS_URL"]
    assert url.startswith("unix://")
    app.extensions["redis"].set("print-mirror:probe", "from-web")
    # A second process (as the worker would be) with the same instance folder joins the same server.
    code = (
        "from plugin import create_app;"
        f"a = create_app({{'INSTANCE_PATH': {str(tmp_path)!r}, 'REDIS_URL': '', 'DATABASE_URL': ''}});"
        "print(a.config['RESOLVED_REDIS_URL']);"
        "print(a.extensions['redis'].get('print-mirror:probe').decode())"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    other_url, value = output.stdout.split()
    assert (other_url, value) == (url, "from-web")
    assert app.extensions["database"].url == f"sqlite:///{tmp_path}/print_mirror.db"
    # Local secrets were generated once, mode 0600, and the second process reused them.
    key_file = tmp_path / "token_encryption_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert app.config["TOKEN_ENCRYPTION_KEY"] == key_file.read_text()


def test_processes_starting_at_once_share_one_embedded_redis(tmp_path):
    """Web workers, the worker and a one-off command booting together all join one server, not one each."""
    code = (
        "import time, sys;"
        "from plugin.store.redis_conn import embedded_redis_url, connect;"
        f"url = embedded_redis_url({str(tmp_path)!r});"
        "connect(url).sadd('print-mirror:probe', sys.argv[1]);"
        "print(url, flush=True);"
        "time.sleep(3)"  # stay connected until every process has written, as the real processes would
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(n)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    urls = {out.strip() for out, _ in outputs}
    assert len(urls) == 1, urls
    probe = subprocess.run(
        [sys.executable, "-c", code.replace("time.sleep(3)", "print(sorted(connect(url).smembers('print-mirror:probe')))"), "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.split("\n")[1] == str(sorted(str(n).encode() for n in (0, 1, 2, 3, "x")))
