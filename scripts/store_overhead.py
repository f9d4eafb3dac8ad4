"""What writing every run to the store costs: the cartpole preset through the run manager, with
a store (a SQLite file in a temporary folder, or DATABASE_URL) and without, alternating.

    python scripts/store_overhead.py [--pairs 3]

For each run: seconds from submit to its final state as the server sees it, the steps per
second of the whole run (its last step over those seconds), and the worker's own training
seconds. Prints each pair and the medians' ratio (with store / without).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppo_core import PRESETS  # noqa: E402
from runs.manager import RunScheduler, TrainingRun  # noqa: E402
from runs.store import RunStore  # noqa: E402


def one_run(store: RunStore | None, config: dict) -> dict:
    s = RunScheduler(max_running=1, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0, store=store)
    try:
        s.warm_up()  # a spare worker with torch imported, as on the server
        while s._spare is None or not s._spare.ready.wait(0.1):
            pass
        t0 = time.perf_counter()
        run = s.submit(TrainingRun(config, owner="B" * 22, preset="cartpole"))
        while run.active:  # polled as the page's timer would, once a second
            time.sleep(1.0)
            run.poll()
        seconds = time.perf_counter() - t0
        last = run.records[-1]
        if store is not None:
            assert len(store.records(run.id)) == len(run.records), "records lost"
        return {"seconds": seconds, "sps": last["global_step"] / seconds, "wall_s": last["wall_s"], "steps": last["global_step"]}
    finally:
        s.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    config = PRESETS["cartpole"].replace(stop_at_target=True).to_dict()  # one seed: the same steps to target each time
    out = {"store": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp, RunStore(f"sqlite:///{tmp}/ppo.sqlite3") as store:
        for i in range(args.pairs):
            for kind in (("store", "none") if i % 2 == 0 else ("none", "store")):
                r = one_run(store if kind == "store" else None, config)
                out[kind].append(r)
                print(f"pair {i + 1} {kind:>5}: {r['steps']} steps in {r['seconds']:.2f} s ({r['sps']:.0f} steps/s; worker trained {r['wall_s']:.2f} s)", flush=True)
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in out.items()}
    print(f"median seconds: with store {med['store']:.2f}, without {med['none']:.2f}; ratio {med['store'] / med['none']:.3f}")


if __name__ == "__main__":
    main()
