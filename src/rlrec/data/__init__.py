"""Datasets: loaders for real and synthetic data behind one registry and one Parquet cache."""

from rlrec.data.dataset import Dataset, format_summary, summarize
from rlrec.data.registry import DataConfig, get_spec, load_dataset, registry

__all__ = [
    "DataConfig",
    "Dataset",
    "format_summary",
    "get_spec",
    "load_dataset",
    "registry",
    "summarize",
]
