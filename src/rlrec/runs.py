"""Run directories: resolved config, manifest, and stages that skip when their output is complete.

A run directory holds `config.yaml` (the fully resolved config), `manifest.json` (seed, package
versions, git revision, and per stage the hashes of its inputs and outputs) and one folder per
stage. A stage is keyed by the hash of its parameters and its inputs' hashes: when the manifest
records the same key as complete and every recorded output is still there with the content hash
recorded for it, the stage is a cache hit and is skipped; an output that was changed, truncated or
removed makes it a miss (logged), and the stage is computed again. A stage that is interrupted
never reaches `complete()`, so the next run redoes it; its outputs are written atomically, so
nothing half-written is ever read back, and the temporary files a killed write left behind
(`.<name>.*.tmp`) are removed when the run directory is opened again.

A run's name is one plain folder name: nothing that would put the run outside `runs_dir`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rlrec.atomic import remove_stale_temporaries, sha256_file, sha256_json, write_json, write_text
from rlrec.config import clip, to_yaml
from rlrec.errors import ConfigError

log = logging.getLogger("rlrec")

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
TRACKED_PACKAGES = ("rlrec", "torch", "numpy", "pandas", "pyarrow", "pydantic")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """HEAD's commit and whether the work tree has changes; None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def hash_input(value: str | os.PathLike[str]) -> str:
    """sha256 of a file, of a folder's files (names and contents), or a given hash string."""
    if isinstance(value, str) and not os.path.exists(value):
        return value  # already a hash or fingerprint
    path = Path(value)
    if path.is_file():
        return sha256_file(path)
    entries = {
        str(p.relative_to(path)): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()
    }
    return sha256_json(entries)


@dataclass
class Stage:
    """One stage of a run: if not `cached`, write outputs under `dir`, then `complete()`."""

    run: Run
    name: str
    key: str
    inputs: dict[str, str]
    cached: bool
    started: float = field(default_factory=time.monotonic)

    @property
    def dir(self) -> Path:
        return self.run.dir / self.name

    def path(self, filename: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / filename

    def complete(self, outputs: list[Path], summary: dict[str, Any] | None = None) -> None:
        """Record the stage as finished, with the hash of each output."""
        record = {
            "key": self.key,
            "inputs": self.inputs,
            "outputs": {str(p.relative_to(self.run.dir)): sha256_file(p) for p in outputs},
            "summary": summary or {},
            "seconds": round(time.monotonic() - self.started, 3),
            "finished": _now(),
        }
        self.run.update_manifest(
            lambda m: m.setdefault("stages", {}).__setitem__(self.name, record)
        )
        log.info("stage %s: done in %.1fs", self.name, record["seconds"])


@dataclass
class Run:
    dir: Path

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The run's manifest; {} when there is none or it is damaged (every stage is then
        computed again, and the manifest rewritten)."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as err:  # JSON or UTF-8 errors are ValueErrors
            log.warning("%s is damaged (%s); its stages will be computed again",
                        self.manifest_path, str(err).splitlines()[0][:200])  # fmt: skip
            return {}
        return manifest if isinstance(manifest, dict) else {}

    def update_manifest(self, change: Any) -> dict[str, Any]:
        manifest = self.manifest()
        change(manifest)
        write_json(self.manifest_path, manifest)
        return manifest

    def stage(
        self,
        name: str,
        params: BaseModel | dict[str, Any],
        inputs: dict[str, str | os.PathLike[str]] | None = None,
    ) -> Stage:
        """Open stage `name`. If it is already complete for the same params and inputs, the
        returned stage has `cached=True` and the caller skips the work; otherwise its old record
        is dropped first, so an interrupted redo is never mistaken for a finished one."""
        hashed = {k: hash_input(v) for k, v in (inputs or {}).items()}
        if isinstance(params, BaseModel):
            params = params.model_dump(mode="json")
        key = sha256_json({"params": params, "inputs": hashed})
        record = self.manifest().get("stages", {}).get(name)
        cached = (
            record is not None and record.get("key") == key and self._outputs_intact(name, record)
        )
        if cached:
            log.info("stage %s: cache hit (same parameters and inputs), skipping", name)
        elif record is not None:
            self.update_manifest(lambda m: m["stages"].pop(name, None))
        return Stage(run=self, name=name, key=key, inputs=hashed, cached=cached)

    def _outputs_intact(self, name: str, record: dict[str, Any]) -> bool:
        """Every output recorded for a stage is there with the hash recorded for it."""
        for out, digest in record.get("outputs", {}).items():
            path = self.dir / out
            if not path.is_file() or sha256_file(path) != digest:
                log.warning("stage %s: %s is missing or changed since it was written; "
                            "computing the stage again", name, out)  # fmt: skip
                return False
        return True

    def outputs(self, name: str) -> dict[str, Any]:
        """The manifest record of a completed stage (raises KeyError if it is not complete)."""
        return self.manifest()["stages"][name]


def create_run(root: str | os.PathLike[str], name: str, config: BaseModel, seed: int) -> Run:
    """Make (or reopen) `root/name`, save the resolved config and refresh the manifest.

    Completed stages recorded by an earlier run of the same directory are kept, so a killed run
    resumes from its last finished stage; temporary files a killed write left are removed.
    """
    run = Run(Path(root) / check_run_name(name))
    run.dir.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temporaries(run.dir)
    if removed:
        log.info("run %s: removed %d temporary file(s) of an interrupted write", name, removed)
    write_text(run.dir / CONFIG, to_yaml(config))

    def refresh(m: dict[str, Any]) -> None:
        m.setdefault("created", _now())
        m.update(
            name=name,
            updated=_now(),
            seed=seed,
            config=config.model_dump(mode="json"),
            config_hash=sha256_json(config.model_dump(mode="json")),
            versions=package_versions(),
            git=git_revision(),
        )
        m.setdefault("stages", {})

    run.update_manifest(refresh)
    return run


def check_run_name(name: str) -> str:
    """`name` if it is one plain folder name (ConfigError for `..`, `a/b`, absolute paths...)."""
    bad = (
        not name.strip()
        or name in (".", "..")
        or any(c in name for c in "/\\\0")
        or name != name.strip()
        or len(name) > 200
    )
    if bad:
        raise ConfigError(
            f"run name {clip(repr(name))} must be one plain folder name inside runs_dir "
            "(no '/', '\\', '..' or surrounding spaces)"
        )
    return name


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
