"""The base of every error a user can fix: its message names the file, line or key."""


class InputError(Exception):
    """Bad input or a failed precondition, reported without a traceback by the CLI."""
