"""Keep stored documents out of the MongoDB driver's logs.

At DEBUG level PyMongo's `pymongo.command` logger prints every command it sends and every reply
it gets, whole: users' password hashes, API credentials' secret hashes, token versions. A
filter on that logger, where the records are made, replaces those documents with their shape
(the command's name and the fields' names), so no handler at any level ever sees a value.
"""

from __future__ import annotations

import json
import logging

_DRIVER_COMMAND_LOGGER = "pymongo.command"
_DOCUMENT_FIELDS = ("command", "reply", "failure")
_REDACTED = "<redacted: documents are not logged>"


class DriverDocumentFilter(logging.Filter):
    """Rewrites a driver command record so that it carries no document values."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            fields = json.loads(record.getMessage())
        except (TypeError, ValueError):
            # Not one of the driver's structured messages: say only that something was logged.
            record.msg, record.args = "driver command log record (redacted)", ()
            return True
        if isinstance(fields, dict):
            for name in _DOCUMENT_FIELDS:
                if name in fields:
                    fields[name] = _REDACTED
        record.msg, record.args = json.dumps(fields), ()
        return True


def redact_driver_logs() -> None:
    """Install the filter on PyMongo's command logger once per process (idempotent)."""
    logger = logging.getLogger(_DRIVER_COMMAND_LOGGER)
    if not any(isinstance(f, DriverDocumentFilter) for f in logger.filters):
        logger.addFilter(DriverDocumentFilter())
