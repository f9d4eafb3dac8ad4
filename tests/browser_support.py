"""Shared by the training page's browser test and the load scripts: a `streamlit run app.py`
on a loopback port, the Chromium it is driven with, and a look at the server's worker processes.

The server and Chromium settings follow tests/test_browser.py (the lesson pages' browser tests).
Training workers are the server's children started by multiprocessing's spawn
(``... -c "from multiprocessing.spawn import spawn_main; ..." --multiprocessing-fork``); the
multiprocessing resource tracker is a child too but trains nothing, so it is not counted.
Linux only: processes are read from /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The deployment script's helpers: the tests start servers the way it does.
sys.path.insert(0, str(ROOT / "deploy"))
from run_local import free_port, wait_until_up  # noqa: E402


class StreamlitServer:
    """`python -m streamlit run app.py` in a session of its own on 127.0.0.1; stop() ends the group.

    The command is the README's, with no flags: every setting comes from .streamlit/config.toml,
    so the tests see what a class gets (no usage statistics, viewer toolbar, …). Only the port (a
    free one: several servers run at once) and the loopback address (nothing outside the machine
    reaches a test server) differ, and they are passed as Streamlit's environment variables, which
    the config file does not set. Other STREAMLIT_* variables of the caller's shell are dropped, for
    the same reason. ``cwd``: another app folder (with its own .streamlit/config.toml);
    ``extra_args``: flags for the load scripts' experiments, never for the tests."""

    def __init__(self, log_path: Path, startup_timeout: float = 60.0, extra_args: list[str] = (), cwd: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self._log = self.log_path.open("w+")
        self.command = [sys.executable, "-m", "streamlit", "run", "app.py", *extra_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
        env.update(STREAMLIT_SERVER_PORT=str(self.port), STREAMLIT_SERVER_ADDRESS="127.0.0.1")
        self.proc = subprocess.Popen(self.command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_healthy(startup_timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _wait_healthy(self, timeout: float) -> None:
        try:
            wait_until_up(f"{self.url}/_stcore/health", self.proc, "streamlit", timeout)
        except RuntimeError as e:
            raise RuntimeError(f"{e}:\n{self.log()}") from None

    def stop(self) -> None:
        """End the server and anything it started: its whole process group."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()

    def __enter__(self) -> "StreamlitServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- processes, from /proc -------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used (None once it is gone)."""
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid: int) -> list[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return sorted(out)


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def worker_pids(server_pid: int) -> list[int]:
    """The server's living multiprocessing-spawned children: training workers, busy or spare."""
    return [p for p in children(server_pid) if "multiprocessing.spawn" in cmdline(p) and alive(p)]


def busy(pids: list[int], interval: float = 1.5, threshold: float = 0.15) -> dict[int, bool]:
    """pid -> whether it used more than ``threshold`` CPU seconds during ``interval`` seconds.

    A training worker computes without pause; a spare worker waits on its command queue.
    """
    before = {p: cpu_seconds(p) for p in pids}
    time.sleep(interval)
    out = {}
    for p in pids:
        after = cpu_seconds(p)
        if before[p] is not None and after is not None:
            out[p] = after - before[p] > threshold
    return out


def wait_for_idle_workers(server_pid: int, timeout: float = 120.0) -> list[int]:
    """Wait until the server has at least one worker and none of them computes (the spare has
    imported torch and is waiting for a run); return their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server_pid)
        if pids and not any(busy(pids, interval=1.0, threshold=0.05).values()):
            return pids
        time.sleep(0.5)
    raise TimeoutError(f"the server's workers were still busy (or absent) after {timeout:.0f} s: {worker_pids(server_pid)}")


def chromium_profiles() -> set[str]:
    """The --user-data-dir of every Chromium this process has launched (one per browser)."""
    found = set()
    for p in descendants(os.getpid()):
        m = re.search(r"--user-data-dir=(\S+)", cmdline(p))
        if m:
            found.add(m.group(1))
    return found


def renice_descendants(nice: int = 10, names: tuple[str, ...] = ("chromium", "chrome", "headless_shell"),
                       exclude_profiles: set[str] | frozenset = frozenset(), cpus: set[int] | None = None) -> int:
    """Lower the priority of this process's browser descendants (ours only), except those of the
    browsers whose --user-data-dir is in ``exclude_profiles``, and with ``cpus`` keep every thread
    of theirs on those CPUs (os.sched_setaffinity sets one thread); returns how many processes
    were changed."""
    n = 0
    for p in descendants(os.getpid()):
        try:
            comm = Path(f"/proc/{p}/comm").read_text().strip()
            if not any(comm.startswith(x) for x in names) or any(d in cmdline(p) for d in exclude_profiles):
                continue
            changed = False
            if nice and os.getpriority(os.PRIO_PROCESS, p) < nice:
                os.setpriority(os.PRIO_PROCESS, p, nice)
                changed = True
            if cpus:
                for task in os.listdir(f"/proc/{p}/task"):
                    if os.sched_getaffinity(int(task)) != cpus:
                        os.sched_setaffinity(int(task), cpus)
                        changed = True
            n += changed
        except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
            pass
    return n


# -- the page ----------------------------------------------------------------------------------
def wait_for_app(page, timeout_ms: int = 180_000, settle_ms: int = 300) -> None:
    """Wait until the app is connected and its script has finished running, twice in a row with
    no status widget showing (a rerun after a click is requested asynchronously)."""
    from playwright.sync_api import expect

    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    for _ in range(2):
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=timeout_ms)
        page.wait_for_timeout(settle_ms)


def metric(page, label: str):
    """The value element of the st.metric whose label is exactly ``label``."""
    label_el = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator('[data-testid="stMetric"]').filter(has=label_el).locator('[data-testid="stMetricValue"]')


def open_page(browser, url: str, viewport: tuple[int, int] = (1366, 768), timeout_ms: int = 60_000):
    """A browser context of its own (a person's), with one page opened at ``url`` once the app
    has run: (context, page)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    wait_for_app(page)
    return context, page


def page_text(page, limit: int = 1500) -> str:
    """The main area's visible text, and any exception Streamlit shows, for a failure message."""
    try:
        text = page.locator('[data-testid="stMain"]').inner_text(timeout=5_000)
    except Exception:  # noqa: BLE001 - the page is gone or busy: say so rather than fail again
        return "(the page could not be read)"
    return " | ".join(line for line in text.splitlines() if line.strip())[:limit]


def metric_text(page, label: str, timeout_ms: int = 2_000) -> str | None:
    """The metric's shown value, or None if it is not on the page (it is redrawn every second)."""
    loc = metric(page, label)
    try:
        return loc.first.inner_text(timeout=timeout_ms).strip()
    except Exception:  # noqa: BLE001 - playwright's TimeoutError, or the element was replaced
        return None


def number(text: str | None) -> float | None:
    """'475.3' / '12,288' -> float; '—' or None -> None."""
    if not text:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def button(page, key: str):
    """The <button> of the st.button with ``key`` (Streamlit puts .st-key-<key> on its container)."""
    return page.locator(f".st-key-{key} button")
