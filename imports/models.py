from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time each worker ran the heartbeat task; /healthz reports the newest."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
