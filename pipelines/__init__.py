"""Pipeline assembly, options and the ``newsflow`` CLI."""

import logging


class _DropOptionalGcpNotice(logging.Filter):
    """Beam warns at import time that Google Cloud client libraries are missing; newsflow does not
    use them, and a warning on every command teaches users to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_DropOptionalGcpNotice())
