"""Executing one ImportRun, a module per job: execute (the steps of a run), leases (claim and
fenced writes), window (the source SQL and the incremental window), read_path (the Storage
Read API or REST paging), pages (the retrying page loop), write (one page's transaction)
and finish (the run's end and where its import goes next)."""
