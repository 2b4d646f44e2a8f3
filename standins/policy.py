"""The permission model the gate enforces: projects (existence, enabled APIs), project-level
IAM permissions per service account, and dataset-level grants (READER / WRITER / OWNER)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

BIGQUERY_API = "bigquery.googleapis.com"
# The Storage Read API is its own service, enabled by default where BigQuery is.
BIGQUERY_STORAGE_API = "bigquerystorage.googleapis.com"
CRM_API = "cloudresourcemanager.googleapis.com"
API_TITLES = {
    BIGQUERY_API: "BigQuery API",
    BIGQUERY_STORAGE_API: "BigQuery Storage API",
    CRM_API: "Cloud Resource Manager API",
}

# Predefined roles as Google lists them (bigquery and resourcemanager permissions; the admin
# role's dataform/dataplex/cloudkms permissions are left out as irrelevant here).
_MODELS = [
    f"bigquery.models.{verb}"
    for verb in (
        "create",
        "delete",
        "export",
        "getData",
        "getMetadata",
        "list",
        "updateData",
        "updateMetadata",
        "updateTag",
    )
]
_ROUTINES = [
    f"bigquery.routines.{verb}"
    for verb in ("create", "delete", "get", "list", "update", "updateTag")
]
_PROJECT_READ = ["resourcemanager.projects.get", "resourcemanager.projects.list"]

JOB_USER = frozenset(["bigquery.jobs.create", *_PROJECT_READ])
DATA_VIEWER = frozenset(
    [
        "bigquery.datasets.get",
        "bigquery.datasets.getIamPolicy",
        "bigquery.models.export",
        "bigquery.models.getData",
        "bigquery.models.getMetadata",
        "bigquery.models.list",
        "bigquery.routines.get",
        "bigquery.routines.list",
        "bigquery.tables.createSnapshot",
        "bigquery.tables.export",
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.getIamPolicy",
        "bigquery.tables.list",
        *_PROJECT_READ,
    ]
)
DATA_EDITOR = frozenset(
    [
        "bigquery.config.get",
        "bigquery.datasets.create",
        "bigquery.datasets.get",
        "bigquery.datasets.getIamPolicy",
        "bigquery.datasets.updateTag",
        *_MODELS,
        *_ROUTINES,
        "bigquery.tables.create",
        "bigquery.tables.createIndex",
        "bigquery.tables.createSnapshot",
        "bigquery.tables.delete",
        "bigquery.tables.deleteIndex",
        "bigquery.tables.export",
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.getIamPolicy",
        "bigquery.tables.list",
        "bigquery.tables.replicateData",
        "bigquery.tables.restoreSnapshot",
        "bigquery.tables.update",
        "bigquery.tables.updateData",
        "bigquery.tables.updateIndex",
        "bigquery.tables.updateTag",
        *_PROJECT_READ,
    ]
)
DATA_OWNER = frozenset(
    [
        *(DATA_EDITOR - {"bigquery.tables.replicateData", "bigquery.tables.updateIndex"}),
        "bigquery.datasets.delete",
        "bigquery.datasets.setIamPolicy",
        "bigquery.datasets.update",
        "bigquery.rowAccessPolicies.create",
        "bigquery.rowAccessPolicies.delete",
        "bigquery.rowAccessPolicies.getIamPolicy",
        "bigquery.rowAccessPolicies.list",
        "bigquery.rowAccessPolicies.setIamPolicy",
        "bigquery.rowAccessPolicies.update",
        "bigquery.tables.deleteSnapshot",
        "bigquery.tables.setCategory",
        "bigquery.tables.setIamPolicy",
    ]
)
BIGQUERY_USER = frozenset(
    [
        "bigquery.bireservations.get",
        "bigquery.capacityCommitments.get",
        "bigquery.capacityCommitments.list",
        "bigquery.config.get",
        "bigquery.datasets.create",
        "bigquery.datasets.get",
        "bigquery.datasets.getIamPolicy",
        "bigquery.jobs.create",
        "bigquery.jobs.list",
        "bigquery.models.list",
        "bigquery.readsessions.create",
        "bigquery.readsessions.getData",
        "bigquery.readsessions.update",
        "bigquery.reservationAssignments.list",
        "bigquery.reservationAssignments.search",
        "bigquery.reservations.get",
        "bigquery.reservations.list",
        "bigquery.reservations.listFailoverDatasets",
        "bigquery.routines.list",
        "bigquery.savedqueries.get",
        "bigquery.savedqueries.list",
        "bigquery.tables.list",
        "bigquery.transfers.get",
        *_PROJECT_READ,
    ]
)
READ_SESSION_USER = frozenset(
    [
        "bigquery.readsessions.create",
        "bigquery.readsessions.getData",
        "bigquery.readsessions.update",
        *_PROJECT_READ,
    ]
)
ADMIN = frozenset(
    [
        *DATA_OWNER,
        *DATA_EDITOR,
        *BIGQUERY_USER,
        "bigquery.bireservations.update",
        "bigquery.capacityCommitments.create",
        "bigquery.capacityCommitments.delete",
        "bigquery.capacityCommitments.update",
        "bigquery.config.update",
        *(
            f"bigquery.connections.{verb}"
            for verb in (
                "create",
                "delegate",
                "delete",
                "get",
                "getIamPolicy",
                "list",
                "setIamPolicy",
                "update",
                "updateTag",
                "use",
            )
        ),
        *(
            f"bigquery.dataPolicies.{verb}"
            for verb in (
                "attach",
                "create",
                "delete",
                "get",
                "getIamPolicy",
                "list",
                "setIamPolicy",
                "update",
            )
        ),
        "bigquery.datasets.createTagBinding",
        "bigquery.datasets.deleteTagBinding",
        "bigquery.datasets.link",
        "bigquery.datasets.listEffectiveTags",
        "bigquery.datasets.listSharedDatasetUsage",
        "bigquery.datasets.listTagBindings",
        "bigquery.jobs.createGlobalQuery",
        "bigquery.jobs.delete",
        "bigquery.jobs.get",
        "bigquery.jobs.listAll",
        "bigquery.jobs.listExecutionMetadata",
        "bigquery.jobs.update",
        "bigquery.objectRefs.read",
        "bigquery.objectRefs.write",
        "bigquery.reservationAssignments.create",
        "bigquery.reservationAssignments.delete",
        "bigquery.reservations.create",
        "bigquery.reservations.delete",
        "bigquery.reservations.getIamPolicy",
        "bigquery.reservations.setIamPolicy",
        "bigquery.reservations.update",
        "bigquery.reservations.use",
        "bigquery.rowAccessPolicies.get",
        "bigquery.rowAccessPolicies.overrideTimeTravelRestrictions",
        "bigquery.savedqueries.create",
        "bigquery.savedqueries.delete",
        "bigquery.savedqueries.update",
        "bigquery.tables.createTagBinding",
        "bigquery.tables.deleteTagBinding",
        "bigquery.tables.listEffectiveTags",
        "bigquery.tables.listTagBindings",
        "bigquery.tables.setColumnDataPolicy",
        "bigquery.transfers.update",
    ]
)

ROLES: dict[str, frozenset[str]] = {
    "roles/bigquery.jobUser": JOB_USER,
    "roles/bigquery.user": BIGQUERY_USER,
    "roles/bigquery.dataViewer": DATA_VIEWER,
    "roles/bigquery.dataEditor": DATA_EDITOR,
    "roles/bigquery.dataOwner": DATA_OWNER,
    "roles/bigquery.readSessionUser": READ_SESSION_USER,
    "roles/bigquery.admin": ADMIN,
}
# Dataset access entries use the legacy role names ("will return only the legacy format").
LEGACY_DATASET_ROLES = {
    "READER": "roles/bigquery.dataViewer",
    "WRITER": "roles/bigquery.dataEditor",
    "OWNER": "roles/bigquery.dataOwner",
}
# Roles that can be granted on a single dataset (jobUser, for one, only on a project).
_GRANTABLE_ON_DATASET = {
    "roles/bigquery.dataViewer": "READER",
    "roles/bigquery.dataEditor": "WRITER",
    "roles/bigquery.dataOwner": "OWNER",
    "roles/bigquery.admin": "OWNER",
}


def default_project_number(project_id: str) -> str:
    """A stable 12-digit project number derived from the ID."""
    digest = int.from_bytes(hashlib.sha256(project_id.encode()).digest()[:8], "big")
    return str(100_000_000_000 + digest % 900_000_000_000)


@dataclass
class Project:
    project_id: str
    number: str
    enabled_apis: set[str] = field(
        default_factory=lambda: {BIGQUERY_API, BIGQUERY_STORAGE_API, CRM_API}
    )

    def api_enabled(self, service: str) -> bool:
        return service in self.enabled_apis


def expand(role_or_permissions: str | Iterable[str]) -> frozenset[str]:
    """Permissions for a role name ("roles/..."), a single permission, or a list of either."""
    items = [role_or_permissions] if isinstance(role_or_permissions, str) else role_or_permissions
    permissions: set[str] = set()
    for item in items:
        if item.startswith("roles/"):
            if item not in ROLES:
                raise ValueError(f"unknown role {item!r}; known: {sorted(ROLES)}")
            permissions |= ROLES[item]
        elif item in LEGACY_DATASET_ROLES:
            permissions |= ROLES[LEGACY_DATASET_ROLES[item]]
        else:
            permissions.add(item)
    return frozenset(permissions)


class Policy:
    """Thread-safe store of projects and grants."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._projects: dict[str, Project] = {}
        self._project_grants: dict[tuple[str, str], set[str]] = {}
        self._dataset_grants: dict[tuple[str, str], dict[str, str]] = {}

    # -- projects ------------------------------------------------------------------------------
    def create_project(
        self,
        project_id: str,
        *,
        number: str | int | None = None,
        api_enabled: bool = True,
        crm_api_enabled: bool = True,
    ) -> Project:
        project = Project(project_id, str(number or default_project_number(project_id)))
        if not api_enabled:
            # The Storage API depends on BigQuery's: a project without one has neither.
            project.enabled_apis -= {BIGQUERY_API, BIGQUERY_STORAGE_API}
        if not crm_api_enabled:
            project.enabled_apis.discard(CRM_API)
        with self._lock:
            self._projects[project_id] = project
        return project

    def project(self, project_id_or_number: str) -> Project | None:
        with self._lock:
            project = self._projects.get(project_id_or_number)
            if project is None and project_id_or_number.isdigit():
                project = next(
                    (p for p in self._projects.values() if p.number == project_id_or_number),
                    None,
                )
            return project

    def projects(self) -> list[Project]:
        with self._lock:
            return list(self._projects.values())

    def set_api_enabled(self, project_id: str, enabled: bool, service: str = BIGQUERY_API) -> None:
        with self._lock:
            project = self._projects[project_id]
            if enabled:
                project.enabled_apis.add(service)
            else:
                project.enabled_apis.discard(service)

    def delete_project(self, project_id: str) -> None:
        with self._lock:
            self._projects.pop(project_id, None)

    # -- grants --------------------------------------------------------------------------------
    def grant(
        self,
        email: str,
        role_or_permissions: str | Iterable[str],
        *,
        project: str,
        dataset: str | None = None,
    ) -> None:
        """Grant a predefined role or permissions on a project, or a role on a dataset.

        On a dataset, pass a role that can be granted there: roles/bigquery.dataViewer,
        dataEditor, dataOwner (or the legacy READER / WRITER / OWNER); it also appears in
        the dataset's ``access`` list.
        """
        if dataset is None:
            permissions = expand(role_or_permissions)
            with self._lock:
                self._project_grants.setdefault((project, email), set()).update(permissions)
            return
        if not isinstance(role_or_permissions, str):
            raise ValueError("dataset-level grants take one role, not a list of permissions")
        legacy = (
            role_or_permissions
            if role_or_permissions in LEGACY_DATASET_ROLES
            else _GRANTABLE_ON_DATASET.get(role_or_permissions)
        )
        if legacy is None:
            raise ValueError(
                f"{role_or_permissions!r} cannot be granted on a dataset; use one of "
                f"{sorted(_GRANTABLE_ON_DATASET)} or READER/WRITER/OWNER"
            )
        with self._lock:
            self._dataset_grants.setdefault((project, dataset), {})[email] = legacy

    def revoke(
        self,
        email: str,
        role_or_permissions: str | Iterable[str] | None = None,
        *,
        project: str,
        dataset: str | None = None,
    ) -> None:
        """Remove permissions (or everything, when None) granted to ``email``."""
        with self._lock:
            if dataset is not None:
                self._dataset_grants.get((project, dataset), {}).pop(email, None)
                return
            held = self._project_grants.get((project, email))
            if held is None:
                return
            if role_or_permissions is None:
                held.clear()
            else:
                held -= expand(role_or_permissions)

    def project_permissions(self, email: str, project: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._project_grants.get((project, email), ()))

    def dataset_role(self, email: str, project: str, dataset: str) -> str | None:
        with self._lock:
            return self._dataset_grants.get((project, dataset), {}).get(email)

    def dataset_entries(self, project: str, dataset: str) -> dict[str, str]:
        """email -> legacy role for the dataset's grants."""
        with self._lock:
            return dict(self._dataset_grants.get((project, dataset), {}))

    def effective(self, email: str, project: str, dataset: str | None = None) -> frozenset[str]:
        """Project grants plus, when ``dataset`` is given, the dataset's grant."""
        permissions = self.project_permissions(email, project)
        if dataset is not None:
            role = self.dataset_role(email, project, dataset)
            if role is not None:
                permissions |= ROLES[LEGACY_DATASET_ROLES[role]]
        return permissions

    def has(self, email: str, permission: str, project: str, dataset: str | None = None) -> bool:
        return permission in self.effective(email, project, dataset)

    def can_see_project(self, email: str, project: str) -> bool:
        with self._lock:
            if self._project_grants.get((project, email)):
                return True
            return any(
                email in grants
                for (grant_project, _), grants in self._dataset_grants.items()
                if grant_project == project
            )

    def reset(self) -> None:
        with self._lock:
            self._projects.clear()
            self._project_grants.clear()
            self._dataset_grants.clear()
