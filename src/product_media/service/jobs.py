"""Async image uploads (POST .../image/async, .../gallery/async): a job is recorded in the
catalog before the answer, under the id its image will have, and every server runs the jobs
that nobody runs: new ones, and those of servers that died (their lease decides, as for the
sweep). A product's jobs run one at a time in the order they were accepted, so gallery
images arrive in that order, each after whatever the gallery holds when it is processed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
from anyio.to_thread import run_sync

from product_media.domain.image_edits import NewImage, Target, add_image
from product_media.domain.media import Alt
from product_media.domain.plan import Failure
from product_media.domain.urls import without_secrets as safe_url
from product_media.service.errors import ProductNotFound
from product_media.service.media import write_media
from product_media.service.ports import Ingest, Storage
from product_media.storage.ports import Leases, MediaJob

log = logging.getLogger(__name__)

# Whose share of the ingest capacity the jobs of a store draw on: one for all of them.
JOB_TENANT = "async-jobs"
# A job that failed this often without an answer from its source (a crash each time, say)
# is given up: it would otherwise come back after every restart.
MAX_ATTEMPTS = 5


async def accept_job(
    storage: Storage,
    store_id: int,
    product_id: int,
    target: Target,
    url: str,
    details: Mapping[str, Any],
) -> int:
    """Record a job; returns the id its image will have. Raises ProductNotFound."""
    job_id = await run_sync(
        storage.catalog.add_media_job, store_id, product_id, target, url, details
    )
    if job_id is None:
        raise ProductNotFound(product_id)
    log.info("async image %d accepted for product %d in store %d", job_id, product_id, store_id)
    return job_id


def _alt(value: object) -> Alt | None:
    if not isinstance(value, dict):
        return None
    translated = value.get("translated")
    return Alt(
        main=str(value.get("main") or ""),
        translated=dict(translated) if isinstance(translated, dict) else {},
    )


class JobRunner:
    """Runs jobs in the background of a server: at most `workers` at once, looking for new
    ones when woken (a job accepted here) and every `poll` seconds (one accepted elsewhere, or
    a dead server's)."""

    def __init__(
        self,
        storage: Storage,
        ingest: Ingest,
        leases: Leases,
        *,
        time_limit: float,
        workers: int = 4,
        poll: float = 2.0,
    ) -> None:
        self._storage = storage
        self._ingest = ingest
        self._leases = leases
        self._time_limit = time_limit
        self._slots = anyio.Semaphore(workers)
        self._poll = poll
        self._woken = anyio.Event()

    def wake(self) -> None:
        """Look for jobs now (one was just accepted)."""
        self._woken.set()

    async def run(self) -> None:
        """Until cancelled: take jobs and run them."""
        async with anyio.create_task_group() as tasks:
            while True:
                await self._slots.acquire()
                try:
                    job = await self._claim()
                except Exception:
                    # The database may be away for a moment; the next look tries again.
                    log.exception("looking for async image jobs failed")
                    job = None
                if job is None:
                    self._slots.release()
                    await self._idle()
                    continue
                tasks.start_soon(self._run_released, job)

    async def _idle(self) -> None:
        with anyio.move_on_after(self._poll):
            await self._woken.wait()
        if self._woken.is_set():
            self._woken = anyio.Event()

    async def _claim(self) -> MediaJob | None:
        storage = self._storage
        holders = await run_sync(storage.catalog.media_job_owners)
        holders.discard(storage.owner)
        dead = await run_sync(self._leases.dead, holders) if holders else set()
        return await run_sync(storage.catalog.claim_media_job, storage.owner, dead)

    async def _run_released(self, job: MediaJob) -> None:
        try:
            await self.run_job(job)
        finally:
            self._slots.release()
            # The product's next job may run now.
            self.wake()

    async def run_job(self, job: MediaJob) -> None:
        """Process one claimed job: its image is added, or its failure logged; either way the
        job is done. Cancelled, it is given back for any server to run."""
        catalog = self._storage.catalog
        where = f"async image {job.id} of product {job.product_id} in store {job.store_id}"
        if job.attempts > MAX_ATTEMPTS:
            log.error("%s given up after %d attempts", where, job.attempts - 1)
            await run_sync(catalog.drop_media_job, job.id)
            return
        target: Target = "main" if job.target == "main" else "gallery"
        new = NewImage(("image", job.url), job.id, _alt(job.details.get("alt")))
        try:
            outcome = await write_media(
                self._storage,
                self._ingest,
                job.store_id,
                job.product_id,
                {new.source},
                lambda current, fetched: add_image(current, fetched, new, target),
                token=JOB_TENANT,
                time_limit=self._time_limit,
                job=job.id,
            )
        except ProductNotFound:
            # Deleted with the product, or about to be.
            log.info("%s dropped: the product is gone", where)
            await run_sync(catalog.drop_media_job, job.id)
            return
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._give_back(job, where)
            raise
        except Exception:
            # The catalog or the blob store away for a while: tried again later, not at once.
            log.exception("%s not done; it will run again", where)
            await anyio.sleep(min(60.0, self._poll * 2**job.attempts))
            await self._give_back(job, where)
            return
        if isinstance(outcome, Failure):
            reason = outcome.message.removeprefix(f"{job.url}: ")
            log.warning("%s from %s failed: %s", where, safe_url(job.url), reason)
        else:
            log.info("%s stored", where)

    async def _give_back(self, job: MediaJob, where: str) -> None:
        try:
            await run_sync(self._storage.catalog.release_media_job, job.id, self._storage.owner)
        except Exception:
            log.exception(
                "%s could not be given back; it runs again once this server is gone", where
            )
