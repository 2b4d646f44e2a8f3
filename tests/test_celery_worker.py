import time

import pytest

from imports.models import WorkerHeartbeat
from imports.tasks import record_worker_heartbeat

pytestmark = pytest.mark.slow


def test_a_real_worker_runs_a_task_that_writes_to_the_database(celery_worker):
    assert not WorkerHeartbeat.objects.exists()

    record_worker_heartbeat.delay()

    deadline = time.monotonic() + 20
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    heartbeat = WorkerHeartbeat.objects.get()
    assert heartbeat.hostname.startswith("test-worker-")
