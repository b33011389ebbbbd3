"""Demonstrations: the store of expert episodes (`store`) and the conversion of BiLLP's
recorded trajectories into one (`billp_trajs`)."""
