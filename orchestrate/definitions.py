"""Dagster definitions that run the scale-out shards of ``meltano.yml`` (docs/SCALE_OUT.md).

The shards are the Meltano jobs of the project (``meltano job list``): each runs one
inherited extractor (its own ``project_keys`` / ``space_keys`` / ``products`` and so its own
state id) into the warehouse. Two kinds of Dagster job come from them, through Meltano's
Dagster integration (``dagster-meltano``), so that adding a shard is only an edit of
``meltano.yml``:

- ``atlassian_shards``: every shard as its own op of one run, the ops side by side under
  the multiprocess executor (at most ``ATLASSIAN_MAX_SHARDS`` at once), each retried by
  Dagster after a failure (``ATLASSIAN_SHARD_RETRIES`` times, waiting
  ``ATLASSIAN_RETRY_DELAY_SECONDS``, doubling). ``meltano run --force`` lets a retry start
  although the killed attempt left its run marked as running; Meltano keeps the STATE that
  reached it before the failure, so the retry resumes from the shard's own bookmark.
- One job per Meltano job, with its Meltano schedule as a Dagster schedule, for running
  each shard on its own cadence (``dagster dev -f orchestrate/definitions.py``).

Tap settings and secrets reach the shards as ``TAP_ATLASSIAN_*`` environment variables of
the Dagster process, the way Meltano reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Backoff, Definitions, JobDefinition, RetryPolicy, ScheduleDefinition, job, multiprocess_executor
from dagster_meltano import MeltanoResource, load_jobs_from_meltano_project, meltano_resource, meltano_run_op

PROJECT_DIR = os.environ.get("MELTANO_PROJECT_ROOT") or str(Path(__file__).resolve().parent.parent)
# Meltano jobs that are shards of the Atlassian site (the scale-out jobs of meltano.yml).
SHARD_JOB_PREFIX = os.environ.get("ATLASSIAN_SHARD_JOB_PREFIX", "atlassian-")
MAX_SHARDS_AT_ONCE = int(os.environ.get("ATLASSIAN_MAX_SHARDS", "3"))
RETRIES = int(os.environ.get("ATLASSIAN_SHARD_RETRIES", "2"))
RETRY_DELAY_SECONDS = float(os.environ.get("ATLASSIAN_RETRY_DELAY_SECONDS", "10"))


def shard_tasks() -> list[str]:
    """The ``meltano run`` tasks of the shard jobs, read from the Meltano project."""
    project = MeltanoResource(project_dir=PROJECT_DIR, meltano_bin="meltano", retries=RETRIES)
    tasks = [task for meltano_job in project.meltano_jobs
             if meltano_job.name.startswith(SHARD_JOB_PREFIX) for task in meltano_job.tasks]
    if not tasks:
        msg = f"no Meltano job named {SHARD_JOB_PREFIX}* in {PROJECT_DIR}/meltano.yml"
        raise RuntimeError(msg)
    return tasks


@job(
    name="atlassian_shards",
    description="Every Atlassian shard of meltano.yml at once, each retried on failure.",
    resource_defs={"meltano": meltano_resource.configured({"project_dir": PROJECT_DIR})},
    executor_def=multiprocess_executor.configured({"max_concurrent": MAX_SHARDS_AT_ONCE}),
    op_retry_policy=RetryPolicy(max_retries=RETRIES, delay=RETRY_DELAY_SECONDS, backoff=Backoff.EXPONENTIAL),
)
def atlassian_shards() -> None:
    """One op per shard task; no op waits for another."""
    for task in shard_tasks():
        meltano_run_op(task)()


_per_job = load_jobs_from_meltano_project(PROJECT_DIR, retries=RETRIES)

defs = Definitions(
    jobs=[atlassian_shards, *(d for d in _per_job if isinstance(d, JobDefinition))],
    schedules=[d for d in _per_job if isinstance(d, ScheduleDefinition)],
)
