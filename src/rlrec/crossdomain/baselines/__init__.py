"""Cross-domain cold-start baselines (docs/marco.md#baselines), scored by the same evaluation code.

tgt      target MF only (cold users keep their untrained rows)        tgt.py
cmf      collective MF: one user table over sources + target           cmf.py
emcdr    linear map source -> target user embeddings                   emcdr.py
ptupcdr  personalised bridge, per source or with the sources combined  ptupcdr.py
remit    REMIT-style single agent weighting the domains                remit.py
uniform  uniform average of the bridged source embeddings              uniform.py
The registry of method names (and of MARCO itself) is `rlrec.crossdomain.methods`.
"""
