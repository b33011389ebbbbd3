import pytest

from tests.serve.helpers import trained_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray instance with 2 CPUs for the whole session (skipped without Ray)."""
    try:
        import ray
    except ImportError:
        pytest.skip("ray is not installed (extra `distributed`)")
    from rlrec.distributed import connect

    connect(num_cpus=2)
    yield ray
    ray.shutdown()
