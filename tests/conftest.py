"""Shared fixtures: an isolated RLREC_HOME per test session, and the real data under ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RLREC_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def rlrec_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session caches into its own folder, never the user's ~/.cache/rlrec."""
    home = tmp_path_factory.mktemp("rlrec-home")
    old = os.environ.get("RLREC_HOME")
    os.environ["RLREC_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("RLREC_HOME", None)
    else:
        os.environ["RLREC_HOME"] = old


@pytest.fixture(scope="session")
def billp_data() -> Path:
    """The real BiLLP artefacts; tests using them skip when ../shared/data is absent."""
    folder = SHARED_DATA / "billp"
    if not folder.is_dir():
        pytest.skip(f"real BiLLP data not found at {folder} (set RLREC_SHARED_DATA)")
    return folder


@pytest.fixture(scope="session")
def ml100k():
    """Real MovieLens-100K (fetched once per session); skips when it cannot be obtained."""
    from rlrec.data import DataConfig, load_dataset
    from rlrec.errors import DataError

    try:
        return load_dataset(DataConfig(name="ml-100k"))
    except DataError as err:
        if "could not obtain" in str(err):
            pytest.skip(f"MovieLens-100K unreachable here: {err}")
        raise
