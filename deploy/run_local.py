"""Start the whole set on one machine: a Ray head, N Streamlit replicas of the app, nginx in front.

    DATABASE_URL=postgresql+psycopg://ppo@127.0.0.1:5432/ppo python deploy/run_local.py --replicas 2 --port 8080

Open http://127.0.0.1:8080: nginx routes each browser to one replica for good (a sticky cookie,
deploy/nginx.conf.template); every replica keeps its runs in the PostgreSQL database of
``DATABASE_URL`` and trains them on the Ray cluster (``PPO_EXECUTOR=ray``), so a class board on
one replica shows the runs started on another. With ``RAY_ADDRESS`` set the replicas use that
cluster; otherwise this starts a head on loopback (token authentication on) and stops it at
the end. Ctrl-C stops everything it started. Needs nginx (Debian: ``apt-get install nginx``),
Ray (``pip install -r requirements-dev.txt``) and a PostgreSQL database (README, "A class that
outgrows one server").

The same code starts the set in the tests (tests/test_replicas.py), so what they check is what
this runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.25)


def render_nginx_conf(listen_port: int, replica_ports: list[int], state_dir: Path) -> str:
    upstreams = "\n".join(f"        server 127.0.0.1:{p};" for p in replica_ports)
    return (TEMPLATE.read_text().replace("@STATE_DIR@", str(state_dir)).replace("@UPSTREAMS@", upstreams)
            .replace("@LISTEN@", f"127.0.0.1:{listen_port}"))


class LocalDeployment:
    """The set, started by :meth:`start` and stopped by :meth:`stop` (also as a context manager)."""

    def __init__(self, database_url: str, replicas: int = 2, port: int | None = None, ray_address: str | None = None,
                 ray_cpus: int | None = None, state_dir: Path | None = None):
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1 (got {replicas})")
        if not database_url:
            raise ValueError("DATABASE_URL must name a PostgreSQL database that every replica shares")
        self.database_url, self.replicas = database_url, replicas
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ray_address, self.ray_cpus = ray_address, ray_cpus or os.cpu_count() or 2
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="ppo-deploy-"))
        self.replica_urls: list[str] = []
        self._procs: list[tuple[str, subprocess.Popen]] = []
        self._own_ray = False
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}

    def start(self) -> "LocalDeployment":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_ray()
            self._start_replicas()
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_ray(self) -> None:
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        if self.ray_address:
            self.env["RAY_ADDRESS"] = self.ray_address
            return
        self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.env.get("RAY_AUTH_TOKEN") or secrets.token_hex(16))
        port = free_port()
        ray_cli = str(Path(sys.executable).with_name("ray"))
        subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                        "--num-cpus", str(self.ray_cpus), "--include-dashboard", "false", "--disable-usage-stats",
                        "--temp-dir", str(self.state_dir / "ray")], env=self.env, check=True, timeout=180,
                       stdout=subprocess.DEVNULL)
        self._own_ray = True
        self.ray_address = self.env["RAY_ADDRESS"] = f"127.0.0.1:{port}"

    def _start_replicas(self) -> None:
        # One cookie secret for all: Streamlit signs its XSRF cookie with it (its replication notes).
        common = {**self.env, "DATABASE_URL": self.database_url, "PPO_EXECUTOR": "ray",
                  "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}
        started = []
        for i in range(self.replicas):
            port = free_port()
            log = (self.state_dir / f"replica-{i + 1}.log").open("w")
            proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py"], cwd=ROOT,
                                    env={**common, "STREAMLIT_SERVER_PORT": str(port)}, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self._procs.append((f"replica {i + 1}", proc))
            started.append((port, proc))
        for i, (port, proc) in enumerate(started):
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/_stcore/health", proc, f"replica {i + 1}")
            self.replica_urls.append(url)

    def _start_nginx(self) -> None:
        conf = self.state_dir / "nginx.conf"
        conf.write_text(render_nginx_conf(self.port, [int(u.rsplit(":", 1)[1]) for u in self.replica_urls], self.state_dir))
        log = (self.state_dir / "nginx-stdout.log").open("w")
        proc = subprocess.Popen([NGINX, "-p", str(self.state_dir), "-c", str(conf), "-g", "daemon off;"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._procs.append(("nginx", proc))
        wait_until_up(f"{self.url}/_stcore/health", proc, "nginx", timeout=30)

    def stop(self) -> None:
        """Stop nginx, then the replicas (their Ray actors end with them), then our Ray head."""
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                except ProcessLookupError:
                    pass
        self._procs.clear()
        if self._own_ray:
            ray_cli = str(Path(sys.executable).with_name("ray"))
            subprocess.run([ray_cli, "stop", "--force"], env=self.env, timeout=120, check=False, stdout=subprocess.DEVNULL)
            self._own_ray = False

    def __enter__(self) -> "LocalDeployment":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="Streamlit servers behind nginx (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1 (default 8080)")
    parser.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the Ray head started here (default: all)")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgresql", "postgres")):
        parser.error("DATABASE_URL must be set to a PostgreSQL database that every replica shares "
                     "(e.g. postgresql+psycopg://ppo@127.0.0.1:5432/ppo)")
    with LocalDeployment(database_url, args.replicas, args.port, os.environ.get("RAY_ADDRESS"), args.ray_cpus) as d:
        print(f"The app: {d.url} ({args.replicas} replicas: {', '.join(d.replica_urls)}; Ray at {d.ray_address}; "
              f"logs in {d.state_dir}). Ctrl-C stops everything.", flush=True)
        try:
            while all(proc.poll() is None for _, proc in d._procs):
                time.sleep(1.0)
            print("a process of the set ended: stopping the rest", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
