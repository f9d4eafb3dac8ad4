"""How long the training page's live view takes to redraw, and how soon the first point appears
after Start (a measurement, not a test).

    python scripts/live_view_timing.py --redraws 60

Drives the training page in Streamlit's AppTest (the app's own code, in this process; worker
processes train as they do under `streamlit run`):

1. time to first point: press Start on the cartpole preset (the warm spare worker already
   waiting, as on a server that has been up a few seconds) and rerun every 50 ms until the
   page's "Steps done" metric is above 0: wall seconds from the click to the end of that rerun
   (the click's own rerun included, which often shows the first update already);
2. redraw: start "clipped vs no clipping vs KL penalty" (three runs on one chart) at one update
   every 0.5 s, so that the runs stay live, and time each call of the live fragment
   (``views.live_view._live``: polling the runs, building every chart and table of the view)
   over ``--redraws`` reruns; prints the median, p95 and max in milliseconds.

AppTest has no browser: the redraw time is the server's share of a redraw (what thirty
students' fragments cost the server), not the browser's drawing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse
import statistics
import time

from streamlit.testing.v1 import AppTest

import views.live_view as live_view
from runs.manager import get_scheduler


def shown(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def rerun_until(at, condition, timeout: float, every: float) -> None:
    t0 = time.perf_counter()
    while not condition(at):
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"gave up after {timeout:.0f} s; the page shows {shown(at)}")
        time.sleep(every)
        at.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redraws", type=int, default=60)
    args = parser.parse_args()

    timings: list[float] = []
    untimed = live_view._live

    def timed_live() -> None:
        t0 = time.perf_counter()
        untimed()
        timings.append(time.perf_counter() - t0)

    live_view._live = timed_live  # show() looks _live up when it runs, so the page calls this one

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("lessons/training.py").run()
    time.sleep(5)  # the scheduler's warm spare worker imports torch (a server that has been up a few seconds)

    t0 = time.perf_counter()
    at.button(key="train_start").click().run()  # this rerun itself may already show the first update
    rerun_until(at, lambda a: shown(a).get("Steps done", "0") not in ("0", "—"), 120, 0.05)
    first = time.perf_counter() - t0
    print(f"time to first point after Start: {first:.2f} s")
    at.button(key="train_stop").click().run()
    rerun_until(at, lambda a: not any(b.key == "train_stop" and not b.disabled for b in a.button), 30, 0.5)
    at.button(key="train_reset").click().run()

    at.selectbox(key="train_pace").set_value(0.5).run()
    at.selectbox(key="train_compare_kind").set_value("all_objectives").run()
    at.button(key="train_compare").click().run()
    # Wait until two runs draw points (two cores: the third is queued, drawn as waiting).
    rerun_until(at, lambda a: len([r for r in a.session_state["train_runs"] if r.records]) >= 2, 120, 0.5)
    timings.clear()
    for _ in range(args.redraws):
        at.run()
        time.sleep(0.25)
    live = sum(1 for r in at.session_state["train_runs"] if r.state in ("running", "queued", "paused"))
    timings_ms = sorted(1000 * t for t in timings)
    p95 = timings_ms[min(len(timings_ms) - 1, round(0.95 * (len(timings_ms) - 1)))]
    print(f"live fragment redraw with 3 compared runs ({len(timings_ms)} redraws, {live} runs still live at the end): "
          f"median {statistics.median(timings_ms):.0f} ms, p95 {p95:.0f} ms, max {timings_ms[-1]:.0f} ms")
    at.button(key="train_stop").click().run()
    get_scheduler().shutdown()


if __name__ == "__main__":
    main()
