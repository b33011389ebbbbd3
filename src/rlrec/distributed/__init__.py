"""Fan-out over Ray (extra `distributed`): demonstrations by user shards (`demos`) and seed x
hyper-parameter sweeps (`sweep`). Without Ray the same tasks run one after another in this
process, with the same results.

`map_tasks` is the one place that talks to Ray: it connects (a local instance, or the cluster
at `address`), runs one task per argument tuple with one CPU each, and returns the results in
order. Workers get this process's `RLREC_HOME`, `RLREC_THREADS` (default 1 per task) and
`HF_HUB_OFFLINE`; secrets such as an LLM API key are read from each worker's own environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from rlrec.errors import ConfigError, RlrecError

log = logging.getLogger("rlrec")

__all__ = ["map_tasks", "ray_module"]

FORWARDED_ENV = ("RLREC_HOME", "RLREC_THREADS", "HF_HUB_OFFLINE", "OMP_NUM_THREADS")


def ray_module() -> Any:
    """`import ray`, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray: pip install 'rlrec[distributed]' (or pip install 'ray>=2.9')"
        ) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Ray, initialised once: a new local instance (`num_cpus`), or the cluster at `address`
    ("auto" = the one this machine belongs to). An already initialised Ray is used as is."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env.setdefault("RLREC_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", env["RLREC_THREADS"])
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            runtime_env={"env_vars": env},
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
    except ConnectionError as err:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {err}") from None
    log.info("ray: %s CPUs", ray.cluster_resources().get("CPU"))
    return ray


def map_tasks(
    fn: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    use_ray: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[Any]:
    """[fn(*a) for a in args], as Ray tasks of one CPU each when `use_ray`."""
    if not use_ray:
        return [fn(*a) for a in args]
    ray = connect(address, num_cpus)
    remote = ray.remote(num_cpus=1, max_retries=0)(fn)
    refs = [remote.remote(*a) for a in args]
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, RlrecError):  # a user error in a task: one line, as locally
            raise err.cause from None
        raise
