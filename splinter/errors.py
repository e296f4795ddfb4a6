"""User-facing errors: each carries one line that says what went wrong and where.

The command-line entry points catch `SplinterError` and print its message instead of a traceback,
so every message must name the file and line, the checkpoint, or the config key involved.
"""

from __future__ import annotations


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, shortened: for messages that quote a library's error."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SplinterError(Exception):
    """Base class for errors whose message is meant for the user, not for a debugger."""

    def __reduce__(self):
        # Subclasses build their message from several arguments, which the default pickling (the
        # class called with `self.args`) cannot repeat; rebuild from the message and the attributes
        # instead, so that the error crosses processes (datasets' num_proc, data-loader workers) intact.
        return _rebuild, (type(self), str(self), self.__dict__)


class CheckpointError(SplinterError):
    """A checkpoint could not be found, downloaded or read."""


class DataError(SplinterError):
    """An input data file is malformed. The message names the file and, when known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class ConfigError(SplinterError):
    """A configuration value is invalid. The message names the key and the valid choices."""

    def __init__(self, key: str, message: str, choices=None):
        self.key = key
        text = f"config key '{key}': {message}"
        if choices is not None:
            text += f" (valid: {', '.join(str(c) for c in choices)})"
        super().__init__(text)


class TrainingDiverged(SplinterError):
    """The training loss became inf or nan: the run stops without results. The message names the step."""


class DownloadError(SplinterError):
    """Data could not be fetched. The message names the URL (or Hub id), the error and the offline way."""


class ChecksumError(SplinterError):
    """A file's sha256 is not the expected one. The message names the file and both hashes."""


def _rebuild(cls: type[SplinterError], message: str, state: dict) -> SplinterError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
