"""A throwaway Ray cluster for the tests: a head on loopback, started and stopped here.

``ray_cluster`` (session-scoped) runs ``ray start --head`` with 2 CPUs on 127.0.0.1 and free
ports, in a temporary folder, and connects this process to it the way the app does
(``RAY_ADDRESS`` + runs.ray_executor.ensure_ray, which ships the project's code). At the end it
disconnects, runs ``ray stop`` and checks that no Ray process of that cluster is left.

Without Ray installed the tests that need it are skipped, or fail when ``CI=true`` or
``REQUIRE_RAY=1``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pg_support import _free_port

CLUSTER_CPUS = 2


def _required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_RAY") == "1"


def _ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


def ray_processes(temp_dir: str) -> list[str]:
    """The command lines of the processes that belong to the cluster in ``temp_dir``."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if temp_dir in line]


@pytest.fixture(scope="session")
def ray_cluster():
    try:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ImportError
    except ImportError:
        if _required():
            pytest.fail("Ray is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("Ray is not installed")
    temp_dir = tempfile.mkdtemp(prefix="ppo-ray-")
    port = _free_port()
    # The cluster's own token (Ray's token authentication), for this process and the head alike.
    auth = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved_env = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    env = dict(os.environ)
    import ray  # (after the variables: Ray reads its authentication mode on import)
    started = subprocess.run(
        [_ray_cli(), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", str(CLUSTER_CPUS), "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", temp_dir],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )
    if started.returncode != 0:
        pytest.fail(f"ray start failed:\n{started.stdout}\n{started.stderr}")
    address = f"127.0.0.1:{port}"
    saved = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = address
    try:
        from runs.ray_executor import ensure_ray

        ensure_ray()
        yield address
    finally:
        ray.shutdown()
        for k, v in {**saved_env, "RAY_ADDRESS": saved}.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        subprocess.run([_ray_cli(), "stop", "--force"], capture_output=True, text=True, timeout=120, env=env, check=False)
        deadline = time.monotonic() + 30
        while ray_processes(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = ray_processes(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left after ray stop: {left}"


def free_cpus() -> float:
    import ray

    return ray.available_resources().get("CPU", 0.0)
