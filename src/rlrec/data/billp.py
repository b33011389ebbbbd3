"""BiLLP's artefacts for Amazon-Book and Steam (`billp-amazon`, `billp-steam`), read from a folder.

BiLLP (Shi et al., SIGIR'24; repository `jizhi-zhang/BiLLP`) is the LLM agent whose environments
and demonstrations IL-Rec builds on. Its files for one dataset, all optional except the first:

    datamaps.json              {"item2id_dict": {title: id}, "id2item_dict": {"id": title}}; the
                               catalogue is `id2item_dict` (13,864 Amazon books, 6,012 Steam games)
    list_genre.json            {title: "['Genre', ...]"}: a genre list written as a Python literal,
                               parsed with `ast.literal_eval` (never `eval`); titles outside the
                               catalogue are ignored, catalogue items without an entry get []
    train.json, test.json      user histories: [{"userid_encoded": int, "pos_seq_name": [titles,
                               oldest first], "question": prompt}] (the prompt is not kept)
    {dataset}_train.npy,       dense reward matrices [n_users, n_items] (DeepFM predictions or
    {dataset}_test.npy         ratings): the world model and the evaluation simulator
    train_distance_mat.pickle, item-item distances [n_items, n_items] for the quit rule, read
    test_distance_mat.pickle   with rlrec's restricted unpickler (`numpy_pickle`): NumPy arrays
                               only, because plain unpickling of an outside file can run code

`--path` may name the dataset's folder itself, a folder holding `amazon/` and `steam/` (as in
`../shared/data/billp`), or a BiLLP checkout (`env/{dataset}/` for datamaps, genres and matrices,
`data/{dataset}/` for the histories).

The returned `Dataset`:
- `items`: item_id (int), title, genres (list of str), one row per catalogue id;
- `interactions`: one row per history entry, implicit (rating NaN), with user_id =
  `userid_encoded`, item_id from `item2id_dict` (BiLLP's own map, so a title listed under two
  ids resolves as BiLLP resolves it), and an extra `split` column ("train"/"test").
  **timestamp is the position in `pos_seq_name` (0 = oldest)**, since BiLLP has no clock; titles
  missing from the catalogue are dropped, keeping the positions of the others, and counted in
  `meta["unknown_titles"]` (and `meta["load_report"]`, which `rlrec data info` prints);
- `arrays`: `reward_train`, `reward_test` (memory-mapped, read-only), `distance_train`,
  `distance_test`, for the files present; reward matrices must have one column per item id and a
  row for every user of the same split, distance matrices must be square over the item ids;
- `meta`: `source` (the folder read), `files` (the files found), `history_users` per split,
  `unknown_titles`, `duplicate_titles` ({title: [ids]}), `items_without_genres`.
"""

from __future__ import annotations

import ast
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rlrec.data.config import DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.data.numpy_pickle import NUMERIC_KINDS, load_numpy_pickle
from rlrec.errors import DataError

__all__ = ["DATASETS", "SPECS", "SPEC_AMAZON", "SPEC_STEAM", "load_billp"]

log = logging.getLogger("rlrec")

DATASETS = ("amazon", "steam")
SPLITS = ("train", "test")


def load_billp(folder: str | Path, dataset: Literal["amazon", "steam"]) -> Dataset:
    """Read BiLLP's files for `dataset` from `folder` (see the module docstring for the layout)."""
    if dataset not in DATASETS:
        raise DataError(f"unknown BiLLP dataset {dataset!r}; expected one of {DATASETS}")
    folder = Path(folder)
    env_dir, data_dir = _locate(folder, dataset)
    name = f"billp-{dataset}"

    items, title_to_id, duplicates = _read_catalogue(env_dir / "datamaps.json")
    genre_path = env_dir / "list_genre.json"
    if genre_path.is_file():
        items["genres"] = _read_genres(genre_path, items["title"].tolist())
    else:
        items["genres"] = [[] for _ in range(len(items))]

    parts, unknown = [], Counter()
    for split in SPLITS:
        if (data_dir / f"{split}.json").is_file():
            frame, split_unknown = _read_histories(data_dir / f"{split}.json", title_to_id, name)
            parts.append(frame.assign(split=split))
            unknown.update(split_unknown)
    interactions = pd.concat(parts, ignore_index=True) if parts else _no_interactions()

    arrays = _read_arrays(env_dir, dataset, int(items["item_id"].max()) + 1, interactions)
    candidates = [
        env_dir / "datamaps.json",
        genre_path,
        *(data_dir / f"{split}.json" for split in SPLITS),
        *(env_dir / f"{dataset}_{split}.npy" for split in SPLITS),
        *(env_dir / f"{split}_distance_mat.pickle" for split in SPLITS),
    ]
    meta: dict[str, Any] = {
        "source": str(env_dir.resolve()),
        "files": [_relative(p, folder) for p in candidates if p.is_file()],
        "history_users": {
            split: int(n) for split, n in interactions.groupby("split")["user_id"].nunique().items()
        },
        "unknown_titles": sum(unknown.values()),
        "duplicate_titles": duplicates,
    }
    if genre_path.is_file():
        meta["items_without_genres"] = int((items["genres"].map(len) == 0).sum())
    if unknown:
        _report_unknown(meta, unknown, name)
    log.info(
        "%s: %d items, %d history entries, arrays %s",
        name,
        len(items),
        len(interactions),
        {k: v.shape for k, v in arrays.items()},
    )
    return Dataset(name=name, interactions=interactions, items=items, arrays=arrays, meta=meta)


def _read_arrays(
    env_dir: Path, dataset: str, n_ids: int, interactions: pd.DataFrame
) -> dict[str, np.ndarray]:
    """The reward and distance matrices present in `env_dir`, shape-checked."""
    max_user = {s: int(u) for s, u in interactions.groupby("split")["user_id"].max().items()}
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        path = env_dir / f"{dataset}_{split}.npy"
        if path.is_file():
            arrays[f"reward_{split}"] = _read_reward(path, n_ids, max_user.get(split))
    for split in SPLITS:
        path = env_dir / f"{split}_distance_mat.pickle"
        if path.is_file():
            arrays[f"distance_{split}"] = _read_distance(path, n_ids)
    return arrays


def _report_unknown(meta: dict[str, Any], unknown: Counter[str], name: str) -> None:
    n_unknown = sum(unknown.values())
    examples = [title for title, _ in unknown.most_common(10)]
    meta["unknown_title_examples"] = examples
    meta["load_report"] = {
        "skipped": n_unknown,
        "reasons": {"history title not in datamaps.json": n_unknown},
        "examples": examples,
    }
    log.warning(
        "%s: dropped %d history entries whose title is not in datamaps.json", name, n_unknown
    )


# -- locating and reading the files ------------------------------------------------------------


def _locate(folder: Path, dataset: str) -> tuple[Path, Path]:
    """(folder with datamaps/genres/matrices, folder with train/test.json) for the three layouts."""
    if not folder.is_dir():
        raise DataError(f"BiLLP folder not found: {folder}")
    layouts = [
        (folder, folder),
        (folder / dataset, folder / dataset),
        (folder / "env" / dataset, folder / "data" / dataset),
    ]
    for env_dir, data_dir in layouts:
        if (env_dir / "datamaps.json").is_file():
            if env_dir.name in DATASETS and env_dir.name != dataset:
                raise DataError(f"{env_dir} holds BiLLP's {env_dir.name} data, not {dataset}")
            return env_dir, data_dir
    raise DataError(
        f"datamaps.json not found in {folder} (nor in {folder / dataset} or "
        f"{folder / 'env' / dataset}): point --path at BiLLP's {dataset} folder"
    )


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is no error
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_catalogue(path: Path) -> tuple[pd.DataFrame, dict[str, int], dict[str, list[int]]]:
    """Items (item_id, title) from `id2item_dict`, the title -> id map, and duplicated titles."""
    maps = _read_json(path)
    if not isinstance(maps, dict) or not {"id2item_dict", "item2id_dict"} & maps.keys():
        raise DataError(f"{path} has neither id2item_dict nor item2id_dict")
    item2id = maps.get("item2id_dict", {})
    id2item = maps.get("id2item_dict")
    if not isinstance(item2id, dict) or not all(_is_int(v) for v in item2id.values()):
        raise DataError(f"{path}: item2id_dict must map titles to integer ids")
    if id2item is None:
        id2item = {str(i): title for title, i in item2id.items()}
    if not isinstance(id2item, dict) or not all(isinstance(t, str) for t in id2item.values()):
        raise DataError(f"{path}: id2item_dict must map ids to titles")
    try:
        ids = [int(k) for k in id2item]
    except ValueError as exc:
        raise DataError(f"{path}: id2item_dict has a key that is not an integer ({exc})") from None
    if not ids:
        raise DataError(f"{path} lists no items")
    if any(i < 0 for i in ids):
        raise DataError(f"{path}: id2item_dict has negative ids")
    items = pd.DataFrame(
        {"item_id": np.asarray(ids, dtype=np.int64), "title": list(id2item.values())}
    )
    items = items.sort_values("item_id", ignore_index=True)

    title_to_id = dict(zip(items["title"], items["item_id"].tolist(), strict=True))
    title_to_id.update(item2id)  # BiLLP resolves titles through item2id_dict; it wins
    outside = sorted(set(item2id.values()) - set(ids))
    if outside:
        raise DataError(f"{path}: item2id_dict uses ids missing from id2item_dict: {outside[:10]}")
    counts = items["title"].value_counts()
    duplicates = {
        title: items.loc[items["title"] == title, "item_id"].tolist()
        for title in counts.index[counts > 1]
    }
    return items, title_to_id, duplicates


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_genres(path: Path, titles: list[str]) -> list[list[str]]:
    """Genre list per catalogue title; each value is a Python-literal string or a JSON list."""
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path} must map titles to genre lists")
    parsed: dict[str, list[str]] = {}  # many titles share one genre string: parse each once
    genres = []
    for title in titles:
        value = raw.get(title)
        if value is None:
            genres.append([])
            continue
        key = value if isinstance(value, str) else json.dumps(value)
        if key not in parsed:
            parsed[key] = _parse_genres(path, title, value)
        genres.append(list(parsed[key]))
    return genres


def _parse_genres(path: Path, title: str, value: Any) -> list[str]:
    result = value
    if isinstance(value, str):
        try:
            result = ast.literal_eval(value)  # literals only: never evaluates code
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise DataError(
                f"{path}: genres of {title!r} are not a Python list literal: {value[:80]!r}"
            ) from None
    if not isinstance(result, list | tuple) or not all(isinstance(g, str) for g in result):
        raise DataError(f"{path}: genres of {title!r} must be a list of strings, got {value!r:.80}")
    return list(result)


def _read_histories(
    path: Path, title_to_id: dict[str, int], domain: str
) -> tuple[pd.DataFrame, Counter[str]]:
    """One row per history entry; timestamp = position in `pos_seq_name` (0 = oldest)."""
    records = _read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path} must hold a list of user records")
    users: list[int] = []
    item_ids: list[int] = []
    positions: list[int] = []
    unknown: Counter[str] = Counter()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {index} is not an object")
        user, seq = record.get("userid_encoded"), record.get("pos_seq_name")
        if not _is_int(user):
            raise DataError(f"{path}: record {index} has no integer userid_encoded")
        if not isinstance(seq, list) or not all(isinstance(t, str) for t in seq):
            raise DataError(f"{path}: record {index} has no pos_seq_name list of titles")
        for position, title in enumerate(seq):
            item = title_to_id.get(title)
            if item is None:
                unknown[title] += 1
                continue
            users.append(user)
            item_ids.append(item)
            positions.append(position)
    frame = interactions_frame(
        np.asarray(users, dtype=np.int64),
        np.asarray(item_ids, dtype=np.int64),
        np.full(len(users), np.nan),
        positions,
        [domain] * len(users),
    )
    return frame, unknown


def _no_interactions() -> pd.DataFrame:
    empty = np.empty(0, dtype=np.int64)
    frame = interactions_frame(empty, empty, [], empty, pd.Series([], dtype=str))
    frame["split"] = pd.Series([], dtype=str)
    return frame


def _read_reward(path: Path, n_ids: int, max_user: int | None) -> np.ndarray:
    """A [n_users, n_items] `.npy` matrix, memory-mapped read-only (no pickles allowed)."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        array.close()
        raise DataError(f"{path} is not a single .npy array")
    if array.dtype.kind not in NUMERIC_KINDS:
        raise DataError(f"{path} holds {array.dtype} values, not numbers")
    if array.ndim != 2 or array.shape[1] != n_ids:
        raise DataError(
            f"{path} has shape {array.shape}; expected (n_users, {n_ids}): "
            f"one column per item id of datamaps.json"
        )
    if max_user is not None and array.shape[0] <= max_user:
        raise DataError(
            f"{path} has shape {array.shape}: {array.shape[0]} rows, but the histories of the "
            f"same split hold user id {max_user}"
        )
    return array


def _read_distance(path: Path, n_ids: int) -> np.ndarray:
    """A [n_items, n_items] matrix from a pickle, through the restricted unpickler."""
    array = load_numpy_pickle(path)
    if array.shape != (n_ids, n_ids):
        raise DataError(
            f"{path} has shape {array.shape}; expected ({n_ids}, {n_ids}): "
            f"one row and column per item id of datamaps.json"
        )
    return array


# -- registry ------------------------------------------------------------------------------------


def _spec(dataset: Literal["amazon", "steam"], description: str) -> DatasetSpec:
    """The registry entry `billp-<dataset>`; the registry checks that a path was given."""
    return DatasetSpec(
        name=f"billp-{dataset}",
        description=description,
        load=lambda cfg: load_billp(cfg.path, dataset),
        fingerprint=lambda cfg: file_fingerprint(*_locate(Path(cfg.path), dataset)),
        needs_path=True,
    )


SPEC_AMAZON = _spec(
    "amazon",
    "BiLLP Amazon-Book: 13,864 book titles and genres, 1,049 test users' histories, "
    "reward/distance matrices when present",
)
SPEC_STEAM = _spec(
    "steam",
    "BiLLP Steam: 6,012 game titles and genres, histories and reward/distance matrices when "
    "present",
)
SPECS = (SPEC_AMAZON, SPEC_STEAM)
