"""Errors a user can cause: the CLI prints their message alone and exits with status 2."""


class RlrecError(Exception):
    """A problem with the user's input (path, file, config, name), not a bug in rlrec."""


class ConfigError(RlrecError):
    """A config file or a `key=value` override is invalid."""


class DataError(RlrecError):
    """A dataset is unknown, missing or malformed."""
