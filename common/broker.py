"""kombu's filesystem transport, made safe for a web process and a worker sharing a folder.

The one-command set-up (bin/run) sends Celery messages as files. kombu's own `_put` creates
the message file and writes it afterwards; a worker polling in between moves the still empty
file away, fails to decode it and its consumer dies with the message lost (celery/kombu
#1551). Here a message is written whole under a name no reader picks up and then renamed into
the queue folder, which is atomic on one file system; and a file that does not decode is
logged and skipped instead of stopping the worker (the run stays queued and the reaper
sends it again). A partial file whose writer was killed before the rename is deleted by the
next channel that opens the folder, once it is older than any write could take.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

# Not ".msg": the reader takes only files named "<time>_<uuid>.<queue>.msg".
_PARTIAL_SUFFIX = ".part"
# A message is written in well under a second; one this old lost its writer (SIGKILL).
PARTIAL_MAX_AGE_SECONDS = 3600


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        delete_abandoned_partials(self.data_folder_out)

    # kombu's filesystem Channel names the argument unlike its base class; this follows it.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # The same name as kombu's, so that messages keep their order across processes.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        body = dumps(payload).encode()
        try:
            descriptor, partial = tempfile.mkstemp(
                prefix=".", suffix=_PARTIAL_SUFFIX, dir=self.data_folder_out
            )
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(body)
                os.replace(partial, os.path.join(self.data_folder_out, name))
            except BaseException:
                os.unlink(partial)
                raise
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to the queue") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        while True:  # ends with a message or with Empty, raised when the folder has none
            try:
                return super()._get(queue)
            except ValueError:  # not UTF-8, or not JSON
                # kombu has already taken the file out of the queue folder.
                logger.error("skipped a broker message on queue %s that does not decode", queue)


def delete_abandoned_partials(folder: str, max_age: float = PARTIAL_MAX_AGE_SECONDS) -> None:
    """Delete the partial message files of writers killed between writing and renaming."""
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # no folder yet: kombu reports it when the channel is used
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(_PARTIAL_SUFFIX)):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                logger.warning("deleted %s, a broker message its writer never finished", entry.name)
        except FileNotFoundError:
            pass  # another channel deleted it first


class FilesystemTransport(filesystem.Transport):
    Channel = Channel
