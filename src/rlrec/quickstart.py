"""`rlrec quickstart` (what `make demo` runs): both methods on MovieLens-100K with the real LLM,
then the report.

Stages (each cached in the run directory, so a second run reuses them and says so, and an
interrupted run picks up at the last finished stage):

1. data and world model (`experiment.world_stages`);
2. demonstrations: the SmolLM2 agent on `demo_users` train users (`experiment.demos_stage`;
   the store resumes by itself);
3. IL-Rec and its key baselines, the heuristics and the live LLM expert (`study.run_study`),
   then the trained policy's latency per request (`latency.json`);
4. MARCO and its key baselines on the genre domains (`crossdomain`), when configured;
5. the report (`report.render_report`).

`StageClock` prints which stage runs, how long the run has taken and an estimate of the time
left (from each stage's expected share of the run, corrected by the time the finished stages
really took); the stages draw their own progress bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlrec.atomic import write_json

log = logging.getLogger("rlrec")

# seconds of each stage on 2 idle cores with cold caches (measured), for the time-left estimate
EXPECTED = {
    "data and world model": 15.0,
    "demonstrations (LLM expert)": 190.0,
    "IL-Rec, baselines and the LLM expert": 315.0,
    "MARCO": 76.0,
    "report": 5.0,
}


class StageClock:
    """Announces each stage with the elapsed time and an estimate of the time left."""

    def __init__(self, expected: dict[str, float], echo: Any = None) -> None:
        self.expected = dict(expected)
        self.echo = echo or (lambda text: log.info("%s", text))
        self.start = time.monotonic()
        self.spent: dict[str, float] = {}

    def left(self, upcoming: list[str]) -> float:
        done_expected = sum(self.expected[s] for s in self.spent)
        scale = sum(self.spent.values()) / done_expected if done_expected else 1.0
        return scale * sum(self.expected[s] for s in upcoming)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        names = list(self.expected)
        i = names.index(name)
        elapsed = time.monotonic() - self.start
        self.echo(
            f"[{i + 1}/{len(names)}] {name}: elapsed {_clock(elapsed)}, "
            f"about {_clock(self.left(names[i:]))} left"
        )
        t0 = time.monotonic()
        yield
        self.spent[name] = time.monotonic() - t0


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def run_quickstart(cfg: Any, echo: Any = None) -> Path:
    """Run every stage of `cfg` (an `ExperimentConfig`); return the report's path."""
    from rlrec.bench.ilrec import policy_latency
    from rlrec.experiment import demos_stage, world_stages
    from rlrec.interactive.study import run_study, trained_learner
    from rlrec.report import render_report

    clock = StageClock(EXPECTED, echo)
    with clock.stage("data and world model"):
        run, ds, world = world_stages(cfg)
    with clock.stage("demonstrations (LLM expert)"):
        demos_stage(cfg, run, world, cfg.demo_users)
    with clock.stage("IL-Rec, baselines and the LLM expert"):
        run_study(cfg, run, ds, world)
        policy = trained_learner(cfg, run, ds, world, "il-rec", cfg.study.seeds[0]).policy()
        latency = policy_latency(policy, world.n_items, cfg.ilrec.window, requests=500)
        write_json(run.dir / "latency.json", {"method": "il-rec", **latency})
    with clock.stage("MARCO"):
        marco_stage(cfg, run)
    with clock.stage("report"):
        path = render_report(run.dir)
    clock.echo(f"done in {_clock(time.monotonic() - clock.start)}: {path}")
    return path


def marco_stage(cfg: Any, run: Any) -> None:
    """MARCO and its baselines (`marco.study`) as a run of their own in <run>/marco, whose
    results.json / weights.json the report reads."""
    if cfg.marco is None:
        log.info("MARCO: not configured in this experiment (no `marco:` section), skipped")
        return
    from rlrec.crossdomain.experiment import run_study

    run_study(cfg.marco.model_copy(update={"runs_dir": run.dir, "name": "marco"}))
