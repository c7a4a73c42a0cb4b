"""The one exception type for input a user can fix.

Library code raises `LsfError` with a message that says what is wrong and how to fix it;
the CLI and job entry points print it as one line and exit with code 2.
"""


class LsfError(Exception):
    """Bad input or a refused operation, explained in one line."""
