"""Load benchmark (not a test): N students start CartPole on one server while a teacher moves a slider.

    python scripts/load_test.py --sessions 10
    python scripts/load_test.py --sessions 30 --duration 60

Starts one `streamlit run app.py` on a free loopback port and one headless Chromium with N + 1
browser contexts (separate sessions). N contexts open the live-training page and press Start
(cartpole preset, or --budget steps); one more context sits on the clipped-objective page and
moves the ε slider with the keyboard every --press-every seconds, timing each key press until
the L^CLIP metric it drives shows its new value (the page redraw a student waits for). A few
presses before any run starts give the unloaded baseline.

After --duration seconds it reads every training session's State metric (finished / training /
waiting in the queue / other), closes every context, and watches the server's worker processes:
after --settle seconds it prints how many remain and whether any still computes (a leftover
training process: must be 0; an idle one is the scheduler's warm spare), then waits up to
--spare-wait seconds for the last worker to go. Exit status 1 if a training process was left.

The students' pages run in one Chromium at nice --browser-nice (default 19; 0 leaves it) and on
the CPUs of --browser-cpus (default the last one; 'all' lifts it): in a classroom their browsers
are on their own machines, not on the server's cores, and tens of renderer threads would
otherwise outweigh the one-thread trainers whatever their nice values. The teacher's
clip page runs in a second Chromium at normal priority, so its redraw is not starved by them.
Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from browser_support import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, StreamlitServer, busy, button, chromium_profiles, cpu_seconds, metric_text,
    number, renice_descendants, wait_for_app, worker_pids,
)

METRIC_VALUES = '[data-testid="stMetricValue"]'
CLIP_METRIC_INDEX = 1  # "clip(r)·A" for A > 0: follows ε while 1 + ε < r (the probe r is 1.3)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (nan without values)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class ClipObserver:
    """The teacher's tab on the clip page: one key press on the ε slider, timed to the redraw."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)
        # through the sidebar, as a student does (a direct /clipped-objective load also works but
        # can open Streamlit's "Page not found" modal, which takes the keyboard focus)
        self.page.goto(url)
        wait_for_app(self.page)
        self.page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]', has_text="The clipped objective").click()
        self.page.wait_for_url(f"{url}/clipped-objective")
        wait_for_app(self.page)
        self.thumb = self.page.locator(".st-key-clip_eps").get_by_role("slider")
        self.right = True  # alternate 0.20 -> 0.21 -> 0.20: the metric changes on every press

    def press(self, timeout_ms: int = 30_000) -> float | None:
        """Seconds from the key press until the metric shows a new value (None: timed out)."""
        before = self.page.locator(METRIC_VALUES).nth(CLIP_METRIC_INDEX).inner_text().strip()
        key = "ArrowRight" if self.right else "ArrowLeft"
        self.right = not self.right
        t0 = time.perf_counter()
        self.thumb.focus()
        self.page.keyboard.press(key)
        try:
            self.page.wait_for_function(
                """([sel, i, prev]) => { const e = document.querySelectorAll(sel)[i];
                                         return !!e && e.innerText.trim() !== prev; }""",
                arg=[METRIC_VALUES, CLIP_METRIC_INDEX, before],
                polling=10,
                timeout=timeout_ms,
            )
        except Exception:  # noqa: BLE001 - playwright TimeoutError: counted as a miss
            return None
        return time.perf_counter() - t0


def classify(state: str | None) -> str:
    if state is None:
        return "unreadable"
    if state.startswith("waiting"):
        return "queued"
    return {"training": "running", "paused": "paused", "finished": "finished", "stopped": "stopped",
            "stopped itself": "diverged", "failed": "failed"}.get(state, state)


def set_budget(page, steps: int) -> None:
    page.locator('[data-testid="stExpander"] summary').first.click()
    box = page.locator(".st-key-train_cartpole_total_steps input")
    box.fill(str(steps))
    box.press("Enter")
    wait_for_app(page)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=10, help="browser sessions that each start a run")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load after the last Start")
    ap.add_argument("--press-every", type=float, default=2.0, help="seconds between slider key presses")
    ap.add_argument("--baseline-presses", type=int, default=6, help="timed presses before any session opens")
    ap.add_argument("--budget", type=int, default=None, help="step budget for each run (default: the preset's)")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds after closing before counting processes")
    ap.add_argument("--spare-wait", type=float, default=90.0, help="further seconds to wait for the idle spare to go")
    ap.add_argument("--server-option", action="append", default=[], metavar="NAME=VALUE",
                    help="a Streamlit config option for the server, e.g. runner.postScriptGC=false (repeatable)")
    ap.add_argument("--browser-nice", type=int, default=19, help="nice value for the students' Chromium (0: leave it)")
    ap.add_argument("--browser-cpus", default=str((os.cpu_count() or 1) - 1),
                    help="comma-separated CPUs the students' Chromium may use (default: the last one); 'all' lifts it")
    args = ap.parse_args()
    students_cpus = None if args.browser_cpus == "all" else {int(c) for c in args.browser_cpus.split(",")}
    if not CHROMIUM.exists():
        print(f"Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp(prefix="ppo-load-")) / "server.log"
    print(f"load test: {args.sessions} training sessions + 1 clip-page session, {args.duration:.0f} s, "
          f"students' browser at nice {args.browser_nice} on CPUs {args.browser_cpus}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before start; server log {log}", flush=True)
    leftover_training = 0
    extra = [a for opt in args.server_option for a in (f"--{opt.split('=', 1)[0]}", opt.split("=", 1)[1])]
    if extra:
        print(f"server options: {' '.join(extra)}")
    with StreamlitServer(log, extra_args=extra) as server, sync_playwright() as pw:
        teacher = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        teacher_profiles = chromium_profiles()
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        nice = lambda: renice_descendants(args.browser_nice, exclude_profiles=teacher_profiles, cpus=students_cpus)  # noqa: E731
        try:
            observer = ClipObserver(teacher, server.url)
            nice()
            observer.press()  # the first redraw builds and caches the chart template: not counted
            time.sleep(args.press_every)
            baseline = [t for t in (observer.press() for _ in range(args.baseline_presses)) if t is not None]
            print(f"clip page redraw, no training: median {statistics.median(baseline):.3f} s, "
                  f"p95 {percentile(baseline, 0.95):.3f} s over {len(baseline)} presses", flush=True)

            # N students open the training page (all loads in flight at once), then press Start
            t_open = time.perf_counter()
            pages, contexts = [], []
            for _ in range(args.sessions):
                ctx = browser.new_context(viewport={"width": 1200, "height": 900})
                page = ctx.new_page()
                page.set_default_timeout(180_000)
                page.goto(f"{server.url}/training", wait_until="commit")
                contexts.append(ctx)
                pages.append(page)
                nice()
            for page in pages:
                wait_for_app(page)
                if args.budget:
                    set_budget(page, args.budget)
            print(f"{args.sessions} training pages open after {time.perf_counter() - t_open:.1f} s", flush=True)
            t_start = time.perf_counter()
            for page in pages:
                button(page, "train_start").click()
            print(f"Start pressed in {args.sessions} sessions in {time.perf_counter() - t_start:.1f} s", flush=True)

            server_cpu0, t_load0 = cpu_seconds(server.pid), time.perf_counter()
            timings, misses, most_workers = [], 0, 0
            deadline = time.perf_counter() + args.duration
            while time.perf_counter() < deadline:  # bounded by --duration (+ one press timeout)
                t0 = time.perf_counter()
                nice()
                most_workers = max(most_workers, len(worker_pids(server.pid)))
                dt = observer.press()
                if dt is None:
                    misses += 1
                else:
                    timings.append(dt)
                time.sleep(max(0.0, args.press_every - (time.perf_counter() - t0)))
            server_cpu = (cpu_seconds(server.pid) - server_cpu0) / (time.perf_counter() - t_load0)

            states = [classify(metric_text(p, "State", timeout_ms=5_000)) for p in pages]
            steps = [number(metric_text(p, "Steps done", timeout_ms=5_000)) or 0 for p in pages]
            returns = [number(metric_text(p, "Mean return, last 20 episodes", timeout_ms=5_000)) for p in pages]
            counts = {s: states.count(s) for s in sorted(set(states))}
            print(f"clip page redraw under load: median {statistics.median(timings) if timings else float('nan'):.3f} s, "
                  f"p95 {percentile(timings, 0.95):.3f} s, max {max(timings, default=float('nan')):.3f} s "
                  f"over {len(timings)} presses, {misses} without a redraw in 30 s", flush=True)
            print(f"server process CPU during the load: {server_cpu:.0%} of one core; load average {os.getloadavg()[0]:.1f}; "
                  f"most worker processes at once: {most_workers} (cap: {os.cpu_count()} running + 1 spare)")
            print(f"runs after {args.duration:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
            reached = sum(r is not None and r >= 475 for r in returns)
            print(f"steps done per session: {sorted(int(s) for s in steps)}; sessions showing return >= 475: {reached}")
        finally:
            t_close = time.perf_counter()
            for b in (browser, teacher):
                for ctx in b.contexts:
                    ctx.close()
                b.close()

        time.sleep(max(0.0, args.settle - (time.perf_counter() - t_close)))
        left = worker_pids(server.pid)
        computing = [p for p, b in busy(left, interval=2.0).items() if b]
        if computing:  # a spare started in the last moments may still be importing torch: look again
            time.sleep(5.0)
            left = worker_pids(server.pid)
            computing = [p for p, b in busy(left, interval=2.0).items() if b]
        leftover_training = len(computing)
        print(f"{time.perf_counter() - t_close:.0f} s after all sessions closed: {len(left)} worker process(es) left, "
              f"{leftover_training} still computing (leftover training processes), {len(left) - len(computing)} idle (warm spare)", flush=True)
        t_wait = time.perf_counter()
        while worker_pids(server.pid) and time.perf_counter() - t_wait < args.spare_wait:
            time.sleep(1.0)
        left = worker_pids(server.pid)
        print(f"{time.perf_counter() - t_close:.0f} s after all sessions closed: {len(left)} worker process(es) left", flush=True)
    return 1 if leftover_training else 0


if __name__ == "__main__":
    sys.exit(main())
