"""The scratch dataset: where a run's query writes its result, instead of an anonymous
table (BigQuery caps anonymous results at about 10 GB compressed and answers
`responseTooLarge` beyond; a destination table has no such cap).

One table per run, `<data project>.<scratch dataset>.run_<run id hex>`, so a crash-resumed
run finds its own table again. The dataset is created on first use in the source dataset's
location (a query cannot write across locations), with a default table expiration so that a
table the run could not delete still goes away, and the connection's KMS key as its default
encryption where a policy requires CMEK. The run deletes its table when it ends.

The roles an admin is asked for (Job User, Data Editor on the dataset) do not include
creating datasets. So when the default scratch dataset does not exist and cannot be made, a
run writes its result into the connection's own dataset instead, as
`bqimports_run_<run id hex>` with its own expiration, rather than failing; Test Connection
warns of it. A scratch dataset the admin named is never replaced: that fails with the fix.
"""

from __future__ import annotations

import logging

from django.conf import settings

from connections import bigquery, crypto
from connections.keys import connection_session
from connections.models import Connection
from imports.models import ImportRun

logger = logging.getLogger(__name__)

SCRATCH_SUFFIX = "_imports_tmp"
IN_DATASET_PREFIX = "bqimports_run_"


class ScratchDatasetError(Exception):
    """The scratch dataset could not be created or used; the text says why and what to do."""


def dataset_id(connection: Connection) -> str:
    return connection.scratch_dataset_id or f"{connection.dataset_id}{SCRATCH_SUFFIX}"


def table_for(connection: Connection, run: ImportRun, dataset: str | None = None) -> str:
    """The run's destination table, project.dataset.table, in `dataset` (as `prepare`
    chose it; by default the scratch dataset)."""
    dataset = dataset or dataset_id(connection)
    if dataset == connection.dataset_id:
        return f"{connection.project_id}.{dataset}.{IN_DATASET_PREFIX}{run.pk.hex}"
    return f"{connection.project_id}.{dataset}.run_{run.pk.hex}"


def is_run_table(connection: Connection, run: ImportRun, table: str) -> bool:
    """Whether `table` is one of the tables `table_for` names for this run."""
    return table in (table_for(connection, run), table_for(connection, run, connection.dataset_id))


def expiration_ms() -> int:
    return settings.BIGQUERY_SCRATCH_EXPIRATION_HOURS * 3600 * 1000


def prepare(session: bigquery.BigQuerySession, connection: Connection, location: str) -> str:
    """Make sure the scratch dataset exists (created in `location` when it does not); the
    dataset the run's result goes to (the connection's own when the default cannot be
    made)."""
    scratch = dataset_id(connection)
    try:
        created = session.ensure_dataset(
            scratch,
            location=location,
            expiration_ms=expiration_ms(),
            kms_key_name=connection.scratch_kms_key_name,
        )
    except bigquery.GoogleCallError as error:
        if error.kind not in (
            bigquery.GoogleErrorKind.ACCESS_DENIED,
            bigquery.GoogleErrorKind.BAD_REQUEST,
        ):
            raise  # transient or a general cause (key, API): the usual message
        logger.warning(
            "scratch dataset %s:%s: %s %s",
            connection.project_id,
            scratch,
            error,
            error.internal_message,
        )
        if connection.scratch_dataset_id:
            raise ScratchDatasetError(cannot_create_message(connection)) from error
        return connection.dataset_id
    if created:
        logger.info("created scratch dataset %s:%s in %s", connection.project_id, scratch, location)
    return scratch


def expire(session: bigquery.BigQuerySession, connection: Connection, table: str) -> None:
    """A result table in the connection's own dataset has no dataset default expiration:
    give it its own, so that one a run could not delete still goes away."""
    if table.split(".")[1] == connection.dataset_id:
        session.expire_table(table, hours=settings.BIGQUERY_SCRATCH_EXPIRATION_HOURS)


def cannot_create_message(connection: Connection) -> str:
    scratch = dataset_id(connection)
    return (
        f"The scratch dataset {connection.project_id}:{scratch}, which holds each run's "
        f"result, does not exist (or {connection.client_email} may not read it) and it may "
        "not create it. "
        f"Grant {connection.client_email} BigQuery Data Editor (bigquery.datasets.create) on "
        f"project {connection.project_id}, or create the dataset in the dataset's location "
        "and grant it Data Editor there, or name an existing dataset it can write to as "
        "Scratch dataset (edit the connection, Advanced)."
    )


def release(
    connection: Connection, run: ImportRun, session: bigquery.BigQuerySession | None = None
) -> None:
    """Delete the run's table once the run has ended (with `session` when given, else in a
    session of its own); never fails the run (the dataset's default expiration removes what
    could not be deleted)."""
    table = ImportRun.objects.filter(pk=run.pk).values_list("result_table", flat=True).first()
    if not table or not is_run_table(connection, run, table):
        return  # no result table yet (or one this code did not name): nothing to delete
    try:
        if session is not None:
            session.delete_table(table)
        else:
            with connection_session(connection) as own:
                own.delete_table(table)
    except (bigquery.GoogleCallError, crypto.KeyDecryptionError) as error:
        logger.warning(
            "run %s: could not delete its result table %s (%s); it expires within %s hours",
            run.pk,
            table,
            error,
            settings.BIGQUERY_SCRATCH_EXPIRATION_HOURS,
        )
        return
    logger.info("run %s: deleted its result table %s", run.pk, table)
