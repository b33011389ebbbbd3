"""The learners: IL-Rec (networks, IRL discriminator, demonstration weighting, losses) and the
baselines, on one training loop with checkpoints (`training`)."""
