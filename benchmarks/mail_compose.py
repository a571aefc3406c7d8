"""The raw ceiling's mails, built exactly as the worker composes them, and what building
one costs; and a check that every sender variant's mail carries a valid signature."""

from __future__ import annotations

import statistics
import time

from activities.mail.message import recipient
from activities.mail.outgoing import Outgoing, Sender, compose
from activities.mail.sources import source_of_version
from benchmarks import mail_phases, mail_setup
from store import ledger, templates
from store.db import session_scope
from store.facts import load_relation, render_context


def build_mails(
    store_tag: str, bench: mail_phases.Bench, senders: dict[str, Sender], n: int
) -> tuple[list[Outgoing], dict[str, float]]:
    """N mails exactly as the worker composes them (rendered, tracked, DKIM-signed by
    dkimpy), one at a time in this thread; and the median cost of each part in ms."""
    recipients = mail_setup.seed(bench.store, store_tag, n, trips=False)
    plain, signed = senders["none"], senders["dkimpy"]
    assert signed.dkim is not None and senders["openssl"].dkim is not None
    times: dict[str, list[float]] = {
        "render_ms": [],
        "compose_ms": [],
        "dkim_dkimpy_ms": [],
        "dkim_openssl_ms": [],
    }
    mails: list[Outgoing] = []
    with session_scope(bench.store.engine) as session:
        version = templates.latest(session, mail_setup.TEMPLATE)
        assert version is not None
        source, links = source_of_version(version), list(version.links)
        for send_id, relation_id in enumerate(recipients.addresses, start=1):
            relation = load_relation(session, relation_id)
            assert relation is not None and relation.email
            t0 = time.perf_counter()
            rendered = bench.renderer.render(source, render_context(relation))
            t1 = time.perf_counter()
            unsigned = compose(
                plain,
                to=recipient(relation.email, relation.display_name),
                mail=rendered,
                message_id=ledger.message_id_for(f"raw/{send_id}", plain.mail_domain, plain.secret),
                trip_id=f"raw:{send_id}",
                send_id=send_id,
                links=links,
                transactional=False,
            )
            t2 = time.perf_counter()
            payload = signed.dkim.sign(unsigned.payload)  # what compose does with DKIM on
            t3 = time.perf_counter()
            if send_id <= 200:
                senders["openssl"].dkim.sign(unsigned.payload)
                times["dkim_openssl_ms"].append((time.perf_counter() - t3) * 1000)
            for name, took in zip(
                ("render_ms", "compose_ms", "dkim_dkimpy_ms"),
                (t1 - t0, t2 - t1, t3 - t2),
                strict=True,
            ):
                times[name].append(took * 1000)
            mails.append(Outgoing(unsigned.return_path, unsigned.recipient, payload))
    costs = {name: round(statistics.median(values), 3) for name, values in times.items()}
    return mails, costs


def check_variants(
    bench: mail_phases.Bench, senders: dict[str, Sender], txt: str, key_pem: bytes
) -> None:
    """One mail per sender variant, verified with the published key (see check_signers)."""
    with session_scope(bench.store.engine) as session:
        version = templates.latest(session, mail_setup.TEMPLATE)
        assert version is not None
        recipients = mail_setup.seed(bench.store, "check", 1, trips=False)
        [relation_id] = recipients.addresses
        relation = load_relation(session, relation_id)
        assert relation is not None and relation.email
        rendered = bench.renderer.render(source_of_version(version), render_context(relation))
        signed = {
            name: compose(
                sender,
                to=recipient(relation.email, relation.display_name),
                mail=rendered,
                message_id="<check@bench.reisplan.localhost>",
                trip_id="check",
                send_id=1,
                links=list(version.links),
                transactional=False,
            ).payload
            for name, sender in senders.items()
        }
    mail_setup.check_signers(signed, txt, key_pem)
