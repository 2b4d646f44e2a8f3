"""Settings for the gunicorn and Celery processes of bench/load.py.

The production settings (the process runs with APP_ENV=production) with one change:
collectstatic writes its manifest into a scratch folder instead of the checkout's
staticfiles/, which the local run serves from.
"""

import os
from pathlib import Path

from config.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
