"""Local stand-ins for the Google services the app talks to.

The real google-auth, google-cloud-bigquery and google-cloud-bigquery-storage libraries talk
to them on loopback (HTTP; gRPC for the Storage Read API):

* ``TokenServer``: the OAuth 2.0 token endpoint (JWT-bearer grant, service-account registry);
* ``Gate``: a proxy in front of the BigQuery emulator that checks tokens and permissions,
  answers Cloud Resource Manager ``projects.testIamPermissions`` and injects faults;
* ``StorageGate``: the same in front of the emulator's Storage Read API (gRPC), which also
  cuts its answers into responses of bounded size;
* ``Emulator``: the ``local-bigquery`` emulator subprocess;
* ``StandinStack``: all of them together, with helpers to create projects, accounts, grants,
  datasets and tables.
"""

from standins.emulator import Emulator, EmulatorError
from standins.gate import Gate
from standins.policy import ROLES, Policy, Project
from standins.stack import StandinStack
from standins.storage_gate import StorageGate
from standins.token_server import GOOGLE_TOKEN_URI, FakeKey, TokenServer

__all__ = [
    "GOOGLE_TOKEN_URI",
    "ROLES",
    "Emulator",
    "EmulatorError",
    "FakeKey",
    "Gate",
    "Policy",
    "Project",
    "StandinStack",
    "StorageGate",
    "TokenServer",
]
