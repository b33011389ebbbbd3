"""The IL-Rec side, one sub-package per idea, each importing only those listed before it:

- `world/`: the world model (users, items, rewards, the user split), its rating models and
  calibration, built from a dataset or synthetic;
- `text/`: item titles as text, grounding free text in the catalogue, text embedders;
- `demos/`: the demonstration store and BiLLP's recorded trajectories;
- `env.py` (the simulated user who quits) and `evaluate.py` (the evaluation protocol);
- `experience/`: transitions, batches as tensors, the replay buffer, rollouts, offline data;
- `learners/`: IL-Rec (networks, IRL, weighting, losses) and the baselines on one learner base
  and one training loop;
- `llm/`: the LLM expert and its backends;
- on top: `experiment_config.py`, `references.py` and `study.py` (the experiment).
"""
