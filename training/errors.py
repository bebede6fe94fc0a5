"""The one exception type the command line turns into a one-line message and exit code 1."""


class TrainingError(Exception):
    """An expected failure (bad grid, unusable output directory, ...). The message says why, in one line."""
