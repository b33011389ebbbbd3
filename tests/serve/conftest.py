import pytest

from tests.serve.helpers import trained_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


@pytest.fixture(scope="session")
def loaded(run_dir):
    from rlrec.serve.model import LoadedPolicy

    return LoadedPolicy.from_run(run_dir, "il-rec", 0)
