"""HTTP serving of a trained interactive policy (extra `serve`): `rlrec serve FILE|RUN_DIR`.

- `model.LoadedPolicy`: a trained IL-Rec (or baseline) policy loaded from a file written by
  `rlrec export` (`rlrec.export`) or from a run directory, with its id maps and batched top-k.
- `app.create_app`: the FastAPI service (`/healthz`, `/metadata`, `/recommend`, bearer token);
  `app.run_server` runs it under uvicorn.
- `guard`: what a request passes before its body is read (token, size cap, body deadline) and the
  idle-connection timeout.
- `bench.bench_serve`: `rlrec bench serve`, a loopback load test beside the LLM expert's cost.
"""

from rlrec.serve.model import LoadedPolicy, Query

__all__ = ["LoadedPolicy", "Query"]
