"""Offline data: logged sessions as transitions."""

import numpy as np
import pandas as pd
import pytest

from rlrec.errors import DataError
from rlrec.interactive.experience.offline_data import logged_transitions


def test_logged_transitions_follow_time_and_cut_long_histories(small_world):
    train = small_world.users["train"]
    logs = pd.DataFrame(
        {
            "user_id": [train[0]] * 5 + [train[1]] * 2 + [99_999],
            "item_id": [3, 1, 4, 1, 5, 9, 2, 6],
            "timestamp": [5, 1, 4, 2, 3, 2, 1, 0],
        }
    )
    t = logged_transitions(small_world, logs, window=4, max_turns=3)
    assert t.actions.tolist() == [1, 1, 5, 4, 3, 2, 9]  # by time; the unknown user dropped
    assert t.done.tolist() == [False, False, True, False, True, False, True]
    assert t.window_items[3].tolist() == [-1, -1, -1, -1]  # a cut starts a fresh episode
    assert np.allclose(t.rewards[0], small_world.rewards["train"][0, 1])
    with pytest.raises(DataError, match="no logged interaction"):
        logged_transitions(small_world, logs.assign(user_id=-5))
