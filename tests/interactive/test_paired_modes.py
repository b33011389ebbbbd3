"""IL-Rec tables show the no-repeat evaluation mode beside free (issue 15 item 5)."""

import numpy as np

from rlrec.interactive.evaluate import (
    EvaluationConfig,
    add_other_mode,
    evaluate_modes,
    evaluate_policy,
    mode_key,
)
from rlrec.interactive.learners.baselines.heuristics import RandomPolicy
from rlrec.interactive.study import paired_columns
from rlrec.interactive.world.synthetic_world import synthetic_world
from rlrec.report import ilrec_columns


class Cycle:
    """Recommends item t mod 5 at step t; when items are banned, the first allowed item."""

    name = "cycle"

    def act(self, obs, rng, greedy=False):
        if obs.banned is not None:
            return np.argmax(~obs.banned, axis=1)
        return obs.turn % 5


def test_evaluate_modes_adds_the_other_mode_under_its_own_keys():
    world = synthetic_world(n_users=40, n_items=30, seed=2)
    ev = EvaluationConfig(n_users=10, seeds=[0, 1])
    both = evaluate_modes(RandomPolicy(), world, ev)
    free = evaluate_policy(RandomPolicy(), world, ev)
    no_repeat = evaluate_policy(RandomPolicy(), world, ev.model_copy(update={"mode": "no-repeat"}))
    assert both["R_traj"] == free["R_traj"]
    assert both[mode_key("R_traj", "no-repeat")] == no_repeat["R_traj"]
    assert both[mode_key("Len", "no-repeat")] == no_repeat["Len"]
    # configured no-repeat: free goes beside it; fixed-k has no partner
    flipped = evaluate_modes(RandomPolicy(), world, ev.model_copy(update={"mode": "no-repeat"}))
    assert flipped[mode_key("R_traj", "free")] == free["R_traj"]
    fixed = evaluate_modes(RandomPolicy(), world, ev.model_copy(update={"mode": "fixed-k"}))
    assert not any("[" in k for k in fixed)
    # results cached without the second mode get it; results that have it are left alone
    assert add_other_mode(free, RandomPolicy(), world, ev) == both
    assert add_other_mode(both, None, world, ev) is both


def test_a_cycling_policy_wins_free_but_not_no_repeat():
    world = synthetic_world(n_users=40, n_items=30, seed=2)
    rewards = np.full_like(world.rewards["test"], 1.0)  # every item quits on reward ...
    rewards[:, :5] = 5.0  # ... except items 0-4
    world.rewards["test"] = rewards
    world.distance_threshold = 0.0  # no two items too close: only repeats and rewards quit
    ev = EvaluationConfig(n_users=10, seeds=[0], quit={"max_turns": 50})
    both = evaluate_modes(Cycle(), world, ev)
    assert both["Len"][0] == 50 and both["R_traj"][0] == 250.0  # W = 4 never sees the cycle
    assert both[mode_key("Len", "no-repeat")][0] == 6  # items 0-4, then a quitting item
    assert both[mode_key("R_traj", "no-repeat")][0] == 26.0
    # forbidding repeats, an episode ends (truncated) when the catalogue is used up
    world.rewards["test"] = np.full_like(rewards, 3.0)
    per_seed = evaluate_policy(Cycle(), world, ev.model_copy(update={"mode": "no-repeat"}))
    assert per_seed["Len"][0] == 30 and per_seed["quit_max_turn"][0] == 10
    # the episode memory closes the cycle from the user's side: step 6 repeats item 0
    ev = ev.model_copy(update={"quit": ev.quit.model_copy(update={"memory": "episode"})})
    assert evaluate_policy(Cycle(), world, ev)["Len"][0] == 6


def test_table_columns_follow_the_rows():
    rows = [{"method": "a", "R_traj": 1, mode_key("R_traj", "no-repeat"): 2}]
    assert paired_columns("free", rows) == [mode_key("R_traj", "no-repeat")]
    assert paired_columns("fixed-k", rows) == []
    assert ilrec_columns(rows) == ["Len", "R_each", "R_traj", mode_key("R_traj", "no-repeat")]
    assert ilrec_columns([{"method": "a"}]) == ["Len", "R_each", "R_traj"]
