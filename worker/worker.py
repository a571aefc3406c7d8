"""The worker: trip workflows plus the activities with their real dependencies."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.admission_runs import AdmissionRunActivities
from activities.bounces import BounceActivities
from activities.consent import ConsentActivities
from activities.contracts import mail_queue
from activities.crm import CrmActivities
from activities.dispatch import DispatchActivities
from activities.events import EventActivities
from activities.mail.dkim import DkimSigner
from activities.mail.outgoing import Sender
from activities.mail.render import Rendering
from activities.mail.render_pool import RenderPool
from activities.mail.smtp import SmtpPool
from activities.recurring import RecurringActivities
from activities.send import SendActivities
from activities.trip_log import TripLogActivities
from activities.trip_sync import TripSyncActivities
from worker import parts
from worker.settings import Settings
from workflows.admit_members import AdmitMembersWorkflow
from workflows.bounces import ReadBouncesWorkflow
from workflows.dispatch import DispatchWorkflow
from workflows.recurring import RecurringDateWorkflow
from workflows.resend import ResendEmailWorkflow
from workflows.trip import TripWorkflow
from workflows.trip_sync import SyncClosedTripsWorkflow


def build_smtp_pool(settings: Settings) -> SmtpPool:
    return SmtpPool(
        host=settings.smtp_host,
        port=settings.smtp_port,
        size=settings.smtp_pool_size,
        timeout=settings.smtp_timeout,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        # Set explicitly: otherwise every connect resolves the FQDN in a thread.
        local_hostname=socket.gethostname(),
    )


# The workflow modules themselves are passed through as well as what they import (see
# workflows/trip.py): otherwise the sandbox re-imports workflows/trip.py for every trip
# it starts, about 7 % of the worker's CPU in `make bench`. They hold no mutable state,
# and tests/test_import_boundaries.py keeps the clock and randomness out of them.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)


def build_sender(settings: Settings) -> Sender:
    dkim = None
    if settings.dkim_private_key is not None:
        dkim = DkimSigner.from_file(
            domain=settings.dkim_domain or settings.mail_domain,
            selector=settings.dkim_selector,
            path=settings.dkim_private_key,
        )
    return Sender(
        mail_from=settings.mail_from,
        mail_domain=settings.mail_domain,
        public_url=settings.public_url,
        secret=settings.signing_key(),
        list_id=settings.list_id,
        bounce_address=settings.bounce_address,
        dkim=dkim,
    )


def build_render_pool(settings: Settings) -> RenderPool:
    return RenderPool(
        processes=settings.render_processes,
        timeout=settings.render_timeout,
        memory_bytes=settings.render_memory_mb * 2**20,
        token_keys=settings.relation_token_keys(),
    )


def build_worker(
    client: Client, engine: Engine, settings: Settings, smtp: SmtpPool, renderer: Rendering
) -> Workers:
    trip_log = TripLogActivities(engine)
    crm = CrmActivities(engine)
    send = SendActivities(
        engine, smtp, renderer, build_sender(settings), client, settings.task_queue
    )
    # Sends of trips started since the contact-pressure policy run on a task queue of
    # their own, so Temporal itself paces them: per worker and over all workers.
    mail = Worker(
        client,
        task_queue=mail_queue(settings.task_queue),
        activities=[send.send_email],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_activities_per_second=settings.send_rate_per_worker or None,
        max_task_queue_activities_per_second=settings.send_rate_total or None,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    main = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            TripWorkflow,
            SyncClosedTripsWorkflow,
            ResendEmailWorkflow,
            DispatchWorkflow,
            AdmitMembersWorkflow,
            RecurringDateWorkflow,
            ReadBouncesWorkflow,
            *parts.workflows(),
        ],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            trip_log.record_passages,
            trip_log.finish_trip,
            trip_log.record_step,  # for trips started before bookkeeping was folded
            crm.check_condition,
            ConsentActivities(engine, client, settings.task_queue).unsubscribe,
            EventActivities(engine).find_events,
            DispatchActivities(engine, client, settings.task_queue).dispatch,
            AdmissionRunActivities(engine, client, settings.task_queue).admit_page,
            RecurringActivities(engine).run_recurring_date,
            send.send_email,
            send.resend_email,
            TripSyncActivities(
                engine,
                client,
                resend_uncertain=settings.uncertain_sends == "resend",
                task_queue=settings.task_queue,
            ).sync_closed_trips,
            BounceActivities(
                engine, settings.bounce_mailbox, settings.signing_key()
            ).read_bounce_mailbox,
            *parts.activities(engine, client, settings),
        ],
        # Sync activities (database writes) run here; async ones (SMTP) on the event loop.
        activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        # A stopping worker lets in-flight sends finish instead of cancelling them.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    return Workers(main, mail)


class Workers:
    """The trip worker and its mail worker, started and stopped together."""

    def __init__(self, main: Worker, mail: Worker) -> None:
        self.main = main
        self.mail = mail
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Workers:
        await self._stack.__aenter__()
        try:
            await self._stack.enter_async_context(self.mail)
            await self._stack.enter_async_context(self.main)
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
