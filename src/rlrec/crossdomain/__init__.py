"""MARCO side of rlrec: multi-source cross-domain recommendation for cold-start users.

    data -> domains.py (domains, cold-start split, sequences) -> mf.py (per-domain MF)
         -> inputs.py + bridge.py (personalised bridges) -> mappo.py (cooperative MAPPO weights)
         -> marco.py (the trainer, parity mode) -> evaluate.py (MAE/RMSE, NDCG/HR/Recall)
Baselines in baselines/, the method registry in methods.py, stages in experiment.py, commands
in rlrec.cli.marco. The method, its defaults and its departures from the paper: docs/marco.md.
"""
