import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.runtime import apply_threads, num_threads


def test_thread_knob(monkeypatch):
    monkeypatch.delenv("RLREC_THREADS", raising=False)
    assert num_threads() == 2
    monkeypatch.setenv("RLREC_THREADS", "1")
    assert apply_threads() == 1
    assert torch.get_num_threads() == 1
    for bad in ("zero", "0", "-2"):
        monkeypatch.setenv("RLREC_THREADS", bad)
        with pytest.raises(ConfigError, match="RLREC_THREADS"):
            num_threads()


class _Machine:
    """A fake /proc/stat: the machine's busy CPU-seconds and ours, advanced by the test."""

    def __init__(self) -> None:
        self.busy = self.own = 0.0

    def run(self, seconds: float, ours: float, others: float) -> None:
        self.busy += seconds * (ours + others)
        self.own += seconds * ours

    def __call__(self) -> tuple[float, float]:
        return self.busy, self.own


def test_thread_governor_gives_a_busy_core_away(monkeypatch):
    from rlrec.runtime import ThreadGovernor

    clock = [100.0]
    monkeypatch.setattr("rlrec.runtime.time.monotonic", lambda: clock[0])
    machine, applied = _Machine(), []
    gov = ThreadGovernor(2, interval=0.5, cores=2, reader=machine, apply=applied.append)
    assert gov.update() == 2  # the first reading: nothing to compare yet

    def elapse(seconds: float, ours: float, others: float) -> int:
        machine.run(seconds, ours, others)
        clock[0] += seconds
        return gov.update()

    assert elapse(1.0, ours=2.0, others=0.05) == 2  # idle machine: both cores
    assert elapse(1.0, ours=1.0, others=1.0) == 1  # one busy process: its core is given away
    assert gov.others == pytest.approx(1.0)
    assert elapse(0.1, ours=1.0, others=0.0) == 1  # within the interval: unchanged
    assert elapse(1.0, ours=1.0, others=0.1) == 2  # the neighbour left
    assert elapse(1.0, ours=1.0, others=3.5) == 1  # never below one thread
    assert applied == [1, 2, 1]  # torch is told only of changes
    with gov:
        pass
    assert applied == [1, 2, 1, 2] and gov.threads == 2  # back to the knob on exit
    four = ThreadGovernor(4, cores=4, reader=machine, apply=applied.append)
    four.update()
    machine.run(1.0, 2.0, 1.6)
    clock[0] += 1.0
    assert four.update() == 2  # 4 - 1.6 = 2.4 free cores -> 2 (margin 0.3)


def test_thread_governor_without_proc_stat_keeps_the_knob(monkeypatch):
    from rlrec.runtime import ThreadGovernor

    gov = ThreadGovernor(3, interval=0.0, cores=4, reader=lambda: None, apply=lambda n: None)
    assert [gov.update() for _ in range(3)] == [3, 3, 3]


def test_machine_cpu_seconds_reads_this_machine():
    from rlrec.runtime import machine_cpu_seconds

    first = machine_cpu_seconds()
    if first is None:
        pytest.skip("no /proc/stat on this system")
    sum(i * i for i in range(300_000))  # some CPU time of our own
    second = machine_cpu_seconds()
    assert second[0] >= first[0] and second[1] > first[1]


def test_set_threads_reaches_torch_and_blas():
    from threadpoolctl import threadpool_info

    from rlrec.runtime import set_threads

    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
    finally:
        set_threads(before)
