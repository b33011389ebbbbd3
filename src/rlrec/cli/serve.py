"""Serving a trained policy, as plain functions `rlrec.cli.main` registers:

    rlrec export RUN_DIR [--out FILE]        export
    rlrec serve RUN_DIR|FILE                 serve

Each parameter carries its `--help` text (typer `Annotated`), so `app.command("serve")(serve)`
registers one as is. User errors raise `ConfigError` / `DataError` (one line, exit status 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlrec.errors import ConfigError
from rlrec.serve.guard import DEFAULT_BODY_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY

RunDir = Annotated[
    Path, typer.Argument(help="run directory (runs/<name>) holding a trained policy")
]
Method = Annotated[
    str,
    typer.Option(help="trained method: il-rec, or a baseline (bc, dqn, sqn, bcq, cql, crr, ...)"),
]
Seed = Annotated[int | None, typer.Option(help="training seed (default: the run's seed)")]
PolicySource = Annotated[
    Path,
    typer.Argument(
        help="a policy file written by `rlrec export` (needs nothing else), or a run directory "
        "(runs/<name>) holding a trained policy"
    ),
]


def export(
    run_dir: RunDir,
    method: Method = "il-rec",
    seed: Seed = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="file to write (default <run>/export/<method>-seed<S>.zip)"),
    ] = None,
) -> Path:
    """Write a trained policy as one self-contained file (the scoring network's weights and
    construction arguments, the item catalogue, the train users, a manifest with versions and
    checksums): `rlrec serve FILE` and `rlrec.export.read_artefact` need nothing else."""
    from rlrec.atomic import sha256_file
    from rlrec.export import artefact_from_run, default_path, write_artefact

    artefact = artefact_from_run(run_dir, method, seed)
    dest = write_artefact(artefact, out or default_path(run_dir, method, artefact.source["seed"]))
    typer.echo(
        f"exported {method} (seed {artefact.source['seed']}) of {run_dir} to {dest}: "
        f"{dest.stat().st_size:,} bytes, sha256 {sha256_file(dest)}"
    )
    return dest


def serve(
    run_dir: PolicySource,
    method: Annotated[
        str, typer.Option(help="with a run directory: the trained method (il-rec, bc, dqn, ...)")
    ] = "il-rec",
    seed: Annotated[
        int | None,
        typer.Option(help="with a run directory: the training seed (default: the run's)"),
    ] = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    token_env: Annotated[
        str, typer.Option(help="environment variable holding the bearer token clients must send")
    ] = "RLREC_TOKEN",
    access_log: Annotated[bool, typer.Option(help="log every request line")] = False,
    max_body: Annotated[
        int, typer.Option(help="largest request body in bytes (413 beyond it)")
    ] = DEFAULT_MAX_BODY,
    body_timeout: Annotated[
        float, typer.Option(help="seconds a client has to send a request body (408 after)")
    ] = DEFAULT_BODY_TIMEOUT,
    idle_timeout: Annotated[
        float,
        typer.Option(help="seconds a connection may wait for its next request's headers"),
    ] = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Serve a trained policy over HTTP: POST /recommend (top-k items for a user id and/or a
    recent history of (item, reward) pairs), GET /metadata, GET /healthz. Clients send
    `Authorization: Bearer $RLREC_TOKEN`; the token and the body size are checked before the
    body is read. No LLM is called."""
    from rlrec.runtime import apply_threads
    from rlrec.serve.app import create_app, run_server
    from rlrec.serve.model import LoadedPolicy

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    apply_threads()
    app = create_app(
        model := LoadedPolicy.load(run_dir, method, seed),
        token_env=token_env,
        max_body=max_body,
        body_timeout=body_timeout,
    )
    what = f"{model.info.get('method')} (seed {model.info.get('seed')}) of {run_dir}"
    typer.echo(f"serving {what} on http://{host}:{port} (token from ${token_env})")
    run_server(app, host, port, idle_timeout=idle_timeout, access_log=access_log)
