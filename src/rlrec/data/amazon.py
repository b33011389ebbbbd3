"""Amazon review dumps (McAuley et al.): the 2014 and 2018 releases, one file per domain.

Files are JSON lines, gzip-compressed (detected by the magic bytes, whatever the suffix) or plain;
a UTF-8 byte-order mark at the start is ignored. The domain comes from the file name: 2014
`reviews_<Domain>_5.json.gz` and 2018 `<Domain>_5.json.gz` or `<Domain>.json.gz` give `<Domain>`
(`.json`, `.jsonl`, `.jsonl.gz` work too; `<Domain>` starts with a capital letter, as every
Amazon category does). In a folder only such names are read: any other file (`meta_Books.json.gz`,
a stray `results.json`) is listed in `ds.meta["ignored_files"]` and left alone. A file given by
name is read whatever its name.

Formats (one JSON object per line):
    2014  reviewerID, asin, overall, unixReviewTime, reviewerName, helpful, reviewText,
          summary, reviewTime
    2018  the same core fields plus `vote` (a string with thousands commas, "1,234"; absent when
          zero), `verified` (bool), `style` (dict), `image`...
A file is 2018-format when its first good record has a `vote`, `verified` or `style` key. Kept:
reviewerID -> user_id, asin -> item_id, overall -> rating, unixReviewTime -> timestamp, the
domain, and for 2018 files `vote` (Int64, 0 when absent) and `verified` (boolean); both are <NA>
on rows from 2014 files.

Validation, per non-blank line: it must be a JSON object; `reviewerID` and `asin` non-empty
strings; `overall` a number within `data.rating_scale` (default [1, 5]); `unixReviewTime` an
integer (an integer-valued string or float is accepted). A user rating the same item twice in a
domain keeps the latest rating (`rlrec.data.checks.superseded`; counted as `duplicates`); in strict
mode the repeat is an error at its line. Dumps with no valid record left are an error. A line cut
mid-JSON at the end of a file is a "truncated line"; a gzip stream that ends early or is corrupt is
a "truncated file" at the line where reading stopped, and the rest of that file is lost.

Lenient mode (default) skips bad lines, logs a warning and reports them in
`ds.meta["load_report"]`: {"skipped": N, "reasons": {category: count}, "examples": [...]}.
Strict mode raises `DataError("<file>:<line>: <reason>")` at the first bad line (1-based).
"""

from __future__ import annotations

import array
import gzip
import io
import json
import logging
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
from tqdm import tqdm

from rlrec.config import clip
from rlrec.data.checks import Where, clean_ratings
from rlrec.data.config import DataConfig, DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.errors import DataError

try:  # orjson parses several times faster; the standard library is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

__all__ = ["SPEC", "read_reviews"]

log = logging.getLogger("rlrec")

SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json")
DUMP_NAME = re.compile(r"(reviews_)?[A-Z][A-Za-z0-9_]*\.(jsonl?)(\.gz)?")  # see the docstring
GZIP_MAGIC = b"\x1f\x8b"
MAX_EXAMPLES = 10
_TS_MAX = 1 << 62  # fast-path bound; anything else goes through the careful check
_PROGRESS_EVERY = 1 << 14  # lines between progress-bar updates
_2018_KEYS = ("vote", "verified", "style")


class _BadLine(Exception):
    """A malformed record: `category` is a stable short key, `reason` the detail shown."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


class _Report:
    """Skipped lines in lenient mode; the first bad line raises in strict mode."""

    def __init__(self, strict: bool, scale: tuple[float, float] = (1.0, 5.0)) -> None:
        self.strict = strict
        self.scale = scale
        self.skipped = 0
        self.reasons: dict[str, int] = {}
        self.examples: list[str] = []

    def bad(self, path: Path, lineno: int, category: str, reason: str) -> None:
        where = f"{path}:{lineno}: {reason}"
        if self.strict:
            raise DataError(where)
        self.skipped += 1
        self.reasons[category] = self.reasons.get(category, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(where)

    def as_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "reasons": self.reasons, "examples": self.examples}


class _Columns:
    """Parsed records, appended to compact arrays; id strings are shared, not repeated."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.items: list[str] = []
        self.ratings = array.array("d")
        self.timestamps = array.array("q")
        self.votes: list[Any] = []  # per row; None for rows of 2014 files
        self.verified: list[Any] = []
        self.domains: list[str] = []
        self.counts: list[int] = []  # rows per domain, in file order
        self.user_ids: dict[str, str] = {}  # one str object per distinct id, however many rows
        self.item_ids: dict[str, str] = {}


def domain_of(path: Path) -> str:
    """`reviews_Books_5.json.gz`, `Books_5.json.gz`, `Books.json.gz` -> `Books`."""
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    name = name.removeprefix("reviews_")
    return name.removesuffix("_5") or name


def find_files(paths: Path | list[Path], ignored: list[str] | None = None) -> dict[str, Path]:
    """Review files by domain: every dump in a folder (other files are appended to `ignored`),
    or the files given."""
    given = [Path(p) for p in (paths if isinstance(paths, list | tuple) else [paths])]
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file())
            files += [p for p in found if DUMP_NAME.fullmatch(p.name)]
            if ignored is not None:
                ignored += [str(p) for p in found if not DUMP_NAME.fullmatch(p.name)]
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"path not found: {path}")
    if not files:
        where = ", ".join(str(p) for p in given)
        raise DataError(
            f"no Amazon review dumps (reviews_<Domain>_5.json.gz, <Domain>_5.json.gz, "
            f"<Domain>.json.gz) in {where}"
        )
    by_domain: dict[str, Path] = {}
    for path in files:
        domain = domain_of(path)
        if domain in by_domain:
            raise DataError(
                f"two files for domain {domain!r}: {by_domain[domain]} and {path}; keep one"
            )
        by_domain[domain] = path
    return by_domain


def read_reviews(
    paths: Path | list[Path],
    *,
    strict: bool = False,
    domains: list[str] | None = None,
    kcore: int = 0,
    rating_scale: tuple[float, float] = (1.0, 5.0),
) -> Dataset:
    """Load Amazon review dumps (a folder, or one or more files) into a `Dataset`.

    `domains` keeps only those domains; `kcore` > 0 then drops, per domain and until stable, the
    users and items with fewer than `kcore` ratings. See the module docstring for validation.
    """
    ignored: list[str] = []
    files = find_files(paths, ignored)
    if ignored:
        log.info("amazon: ignored %d file(s) that are not review dumps: %s", len(ignored),
                 ", ".join(Path(p).name for p in ignored[:5]))  # fmt: skip
    if domains is not None:
        absent = [d for d in domains if d not in files]
        if absent:
            raise DataError(
                f"domain(s) {', '.join(absent)} not found; found: {', '.join(sorted(files))}"
            )
        files = {d: files[d] for d in domains}
    report = _Report(strict, rating_scale)
    cols = _Columns()
    formats = {domain: _read_file(path, domain, cols, report) for domain, path in files.items()}
    if report.skipped:
        log.warning(
            "amazon: skipped %d malformed line(s) %s; first: %s",
            report.skipped,
            report.reasons,
            report.examples[0],
        )
    inter = _frame(cols)
    where = ", ".join(str(p) for p in files.values())
    if inter.empty:
        raise DataError(
            f"no valid review in {where}: {report.skipped:,} malformed line(s) "
            f"{report.reasons or ''}".rstrip()
        )
    meta: dict[str, Any] = {
        "source": "Amazon review dumps at " + where,
        "formats": formats,
        "load_report": {**report.as_dict(), "duplicates": 0},
        "ignored_files": ignored,
    }
    # strict mode already stopped at a repeat's line; here only the latest of each is kept
    inter = clean_ratings(inter, rating_scale, False, _row_name(inter), meta["load_report"])
    if kcore > 0:
        kept = kcore_mask(inter, kcore)
        meta["kcore_removed"] = int((~kept).sum())
        inter = inter[kept].reset_index(drop=True)
        if inter.empty:
            raise DataError(f"the {kcore}-core of {where} is empty: lower data.kcore")
    items = inter[["item_id", "domain"]].drop_duplicates().reset_index(drop=True)
    users = pd.DataFrame({"user_id": pd.unique(inter["user_id"])})
    return Dataset(name="amazon", interactions=inter, items=items, users=users, meta=meta)


def _read_file(path: Path, domain: str, cols: _Columns, report: _Report) -> str:
    """Append the good records of one file to `cols`; return its format ("2014" or "2018")."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
    is_gzip = raw.read(2) == GZIP_MAGIC  # by content: a gzip file may lack the .gz suffix
    raw.seek(0)
    size = path.stat().st_size
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
    # decoding in bulk is faster than per line; undecodable bytes become U+FFFD
    lines = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="\n")
    with (
        raw,
        lines,
        tqdm(total=size, unit="B", unit_scale=True, desc=domain, disable=None) as bar,
    ):
        n_before = len(cols.users)
        fmt = _parse_lines(path, lines, cols, report, lambda: bar.update(raw.tell() - bar.n))
        bar.update(size - bar.n)
    n_rows = len(cols.users) - n_before
    if fmt == "2014":
        cols.votes += [None] * n_rows
        cols.verified += [None] * n_rows
    cols.domains.append(domain)
    cols.counts.append(n_rows)
    return fmt


def _parse_lines(
    path: Path, lines: TextIO, cols: _Columns, report: _Report, progress: Callable[[], Any]
) -> str:
    """The hot loop: parse, check (a fast inline test, `_check` for the rest), append."""
    add_user, add_item = cols.users.append, cols.items.append
    add_rating, add_stamp = cols.ratings.append, cols.timestamps.append
    add_vote, add_verified = cols.votes.append, cols.verified.append
    user_ids, item_ids = cols.user_ids, cols.item_ids
    low, high = report.scale
    seen: dict[tuple[str, str], int] | None = {} if report.strict else None
    fmt: str | None = None
    is_2018 = False
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            if not lineno % _PROGRESS_EVERY:
                progress()
            try:
                obj = _loads(line)
                u, i, r, t = obj["reviewerID"], obj["asin"], obj["overall"], obj["unixReviewTime"]
                if not (
                    type(u) is str
                    and u
                    and type(i) is str
                    and i
                    and type(r) in (float, int)
                    and low <= r <= high
                    and type(t) is int
                    and 0 <= t < _TS_MAX
                ):
                    u, i, r, t = _check(obj, report.scale)
            except (ValueError, KeyError, TypeError, IndexError, _BadLine) as exc:
                if not line.strip():
                    continue  # blank lines are not records
                try:
                    u, i, r, t = _check_line(line, exc, report.scale)
                except _BadLine as bad:
                    report.bad(path, lineno, bad.category, bad.reason)
                    continue
            if seen is not None and seen.setdefault((u, i), lineno) != lineno:
                first = seen[(u, i)]
                again = f"{clip(u, 60)} rated {clip(i, 60)} again (first: line {first})"
                report.bad(path, lineno, "duplicate", again)
            if fmt is None:
                is_2018 = any(k in obj for k in _2018_KEYS)
                fmt = "2018" if is_2018 else "2014"
            if is_2018:
                add_vote(_vote(obj.get("vote")))
                add_verified(bool(obj.get("verified", False)))
            add_user(user_ids.setdefault(u, u))
            add_item(item_ids.setdefault(i, i))
            add_rating(r)
            add_stamp(t)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        report.bad(path, lineno + 1, "truncated file", f"truncated file ({exc})")
    return fmt or "2014"


def _check_line(
    line: str, exc: Exception, scale: tuple[float, float]
) -> tuple[str, str, float, int]:
    """Diagnose a line the fast path rejected; return the record if it is good after all."""
    if isinstance(exc, _BadLine):
        raise exc
    try:
        obj = _loads(line)
    except ValueError:
        if not line.endswith("\n"):
            raise _BadLine("truncated line", "truncated line") from None
        raise _BadLine("not JSON", "not JSON") from None
    return _check(obj, scale)


def _check(obj: Any, scale: tuple[float, float]) -> tuple[str, str, float, int]:
    """The careful validation of one parsed record: (user, item, rating, timestamp) or raise."""
    if not isinstance(obj, dict):
        raise _BadLine("not an object", f"not a JSON object ({type(obj).__name__})")
    ids = []
    for key in ("reviewerID", "asin"):
        value = obj.get(key)
        if value is None or value == "":
            raise _BadLine("missing field", f"missing {key}")
        if not isinstance(value, str):
            raise _BadLine("bad id", f"{key} is not a string ({type(value).__name__})")
        ids.append(value)
    rating = obj.get("overall")
    if rating is None:
        raise _BadLine("missing field", "missing overall")
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        raise _BadLine("bad rating", f"rating {clip(repr(rating), 60)} is not a number")
    low, high = scale
    if not low <= rating <= high:  # False for NaN too
        raise _BadLine("bad rating", f"rating {rating:g} out of range [{low:g}, {high:g}]")
    stamp = obj.get("unixReviewTime")
    if stamp is None:
        raise _BadLine("missing field", "missing unixReviewTime")
    return ids[0], ids[1], float(rating), _timestamp(stamp)


def _timestamp(value: Any) -> int:
    bad = _BadLine("bad timestamp", f"unixReviewTime {clip(repr(value), 60)} is not an integer")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise bad from None
    elif isinstance(value, float):
        if not value.is_integer():
            raise bad
        value = int(value)
    if not isinstance(value, int) or not -(1 << 63) <= value < (1 << 63):
        raise bad
    return value


def _row_name(inter: pd.DataFrame) -> Where:
    """Names a row of the parsed reviews by domain, user and item (dumps have no line column)."""
    return lambda row: (
        f"{inter['domain'].iat[row]}: {clip(str(inter['user_id'].iat[row]), 60)} on "
        f"{clip(str(inter['item_id'].iat[row]), 60)}"
    )


def _vote(value: Any) -> int:
    """2018 `vote`: "1,234" -> 1234; absent or unreadable -> 0 (votes are not validated)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).replace(",", "").strip())
    except ValueError:
        return 0


def _frame(cols: _Columns) -> pd.DataFrame:
    domain = np.repeat(np.array(cols.domains, dtype=object), cols.counts)
    frame = interactions_frame(
        cols.users,
        cols.items,
        np.frombuffer(cols.ratings, dtype=np.float64) if len(cols.ratings) else [],
        np.frombuffer(cols.timestamps, dtype=np.int64) if len(cols.timestamps) else [],
        domain,
    )
    if any(v is not None for v in cols.votes):
        frame["vote"] = pd.array(cols.votes, dtype="Int64")
        frame["verified"] = pd.array(cols.verified, dtype="boolean")
    return frame


def kcore_mask(inter: pd.DataFrame, k: int) -> np.ndarray:
    """Rows kept by the iterative k-core, per domain: every user and item keeps >= k ratings.

    Vectorised: users and items are numbered per domain once, then each round is two
    `bincount`s over the surviving rows, until a round removes nothing.
    """
    dom = pd.factorize(inter["domain"])[0].astype(np.int64)
    user = _per_domain_codes(dom, inter["user_id"])
    item = _per_domain_codes(dom, inter["item_id"])
    keep = np.ones(len(inter), dtype=bool)
    while True:
        n_user = np.bincount(user[keep], minlength=user.max(initial=-1) + 1)
        n_item = np.bincount(item[keep], minlength=item.max(initial=-1) + 1)
        new = keep & (n_user[user] >= k) & (n_item[item] >= k)
        if new.sum() == keep.sum():
            return keep
        keep = new


def _per_domain_codes(dom: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Dense codes of (domain, id) pairs: the same id in two domains gets two codes."""
    codes, uniques = pd.factorize(ids)
    return pd.factorize(dom * len(uniques) + codes)[0]


def _path(cfg: DataConfig) -> Path:
    if cfg.path is None:
        raise DataError("dataset 'amazon' needs a local path: pass --path (data.path=...)")
    return Path(cfg.path)


def _load(cfg: DataConfig) -> Dataset:
    return read_reviews(
        _path(cfg),
        strict=cfg.strict,
        domains=cfg.domains,
        kcore=cfg.kcore,
        rating_scale=cfg.rating_scale,
    )


def _fingerprint(cfg: DataConfig) -> dict[str, Any]:
    return {
        **file_fingerprint(_path(cfg)),
        "strict": cfg.strict,
        "domains": sorted(cfg.domains) if cfg.domains is not None else None,
        "kcore": cfg.kcore,
        "rating_scale": list(cfg.rating_scale),
    }


SPEC = DatasetSpec(
    name="amazon",
    description="Amazon review dumps (2014 `reviews_<Domain>_5.json.gz` or 2018 "
    "`<Domain>_5.json.gz`), one domain per file",
    load=_load,
    fingerprint=_fingerprint,
    needs_path=True,
)
