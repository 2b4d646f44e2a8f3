"""The filesystem broker of the one-command set-up: a worker polling while the web process
sends gets every message whole, and a file that does not decode does not stop it."""

import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

from common import broker
from common.broker import FilesystemTransport

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "imports"


@pytest.fixture
def folders(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    options["processed_folder"] = str(tmp_path / "processed")
    options["control_folder"] = str(tmp_path / "control")
    options["store_processed"] = False
    for name in ("processed", "control"):
        (tmp_path / name).mkdir()
    return options


def channel(options):
    connection = Connection(
        "filesystem://", transport=FilesystemTransport, transport_options=options
    )
    return connection, connection.default_channel


MESSAGES = 100
# Slow to encode (kombu encoded after creating the file): the window a poll fell into.
PAYLOAD = {"body": [{"row": row} for row in range(20_000)]}


def send_messages(options):
    """The web process: sends MESSAGES messages from a process of its own."""
    connection, producer = channel(options)
    for number in range(MESSAGES):
        producer._put(QUEUE, {**PAYLOAD, "number": number})
    connection.release()


def test_a_worker_polling_while_messages_are_written_receives_every_one_whole(folders):
    """kombu's own transport creates the file before writing it: a poll in between read an
    empty file, and the worker's consumer died on it (seen in the run-control pass)."""
    sender = multiprocessing.get_context("spawn").Process(target=send_messages, args=(folders,))
    connection, consumer = channel(folders)
    received: list = []

    sender.start()
    while True:
        sent_all = not sender.is_alive()
        try:
            received.append(consumer._get(QUEUE))
        except Empty:
            if sent_all:
                break
    connection.release()

    assert sender.exitcode == 0
    # Messages sent in one millisecond may come in any order, as with kombu's own transport.
    assert sorted(message["number"] for message in received) == list(range(MESSAGES))
    assert all(message["body"] == PAYLOAD["body"] for message in received)
    assert [path for path in Path(folders["data_folder_in"]).iterdir() if path.is_file()] == []


def test_a_message_file_that_does_not_decode_is_skipped_and_logged(folders, caplog):
    connection, queue = channel(folders)
    Path(folders["data_folder_in"], f"1_bad.{QUEUE}.msg").write_bytes(b"")
    Path(folders["data_folder_in"], f"2_bad.{QUEUE}.msg").write_bytes(b"\xff{not json")
    queue._put(QUEUE, {"number": 1})

    with caplog.at_level(logging.ERROR, logger="common.broker"):
        assert queue._get(QUEUE) == {"number": 1}
        with pytest.raises(Empty):
            queue._get(QUEUE)
    connection.release()

    assert [record.getMessage() for record in caplog.records] == [
        f"skipped a broker message on queue {QUEUE} that does not decode"
    ] * 2


def test_a_channel_deletes_the_partial_files_of_writers_killed_long_ago(folders):
    """A sender SIGKILLed between writing and renaming leaves its hidden partial file; the
    next channel deletes it once it is older than any write takes, and a fresh one (a
    writer still at work) is left alone."""
    folder = Path(folders["data_folder_out"])
    abandoned, in_progress = folder / ".abandoned.part", folder / ".in-progress.part"
    abandoned.write_bytes(b'{"body": ')
    in_progress.write_bytes(b'{"body": ')
    long_ago = time.time() - broker.PARTIAL_MAX_AGE_SECONDS - 60
    os.utime(abandoned, (long_ago, long_ago))

    connection, queue = channel(folders)
    queue._put(QUEUE, {"number": 1})

    assert not abandoned.exists()
    assert in_progress.exists()
    assert queue._get(QUEUE) == {"number": 1}
    connection.release()


def test_the_one_command_set_up_sends_through_this_transport(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL="",
        BROKER_DATA_DIR=str(tmp_path / "broker"),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    code = (
        "from config.celery import app\n"
        "with app.connection_for_write() as connection:\n"
        "    print(type(connection.default_channel).__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.stdout.strip() == "common.broker", result.stderr
