"""What the mail throughput benchmark sends: a store holding a newsletter-shaped template
with links, a real 2048-bit DKIM key, the worker's settings, and the rows a send needs.

Everything here happens before a clock starts.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dkim
import dkim.crypto
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from activities.admission import trip_id
from activities.contracts import PassageKey, SendEmailInput, SendPressure
from activities.mail.dkim import DkimSigner
from activities.mail.outgoing import Sender
from benchmarks import workloads
from benchmarks.throughput import bench_settings
from store import templates
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import Trip
from worker.settings import Settings
from worker.worker import build_sender

TEMPLATE = "bench_hello"  # the name workloads.ONE_EMAIL sends
STEP = "hello"  # its step id
SELECTOR = "bench"
SUBJECT = "{{ relation.first_name }}, our spring programme is out"
# A short newsletter: a style block to inline, personalised text, four tracked links.
HTML = """<html><head><style>
body { font-family: Georgia, serif; color: #222; }
h1 { font-size: 22px; color: #1a4d7a; }
p { line-height: 1.5; margin: 0 0 12px; }
.button { background: #1a4d7a; color: #fff; padding: 8px 16px; text-decoration: none; }
.footer { font-size: 12px; color: #777; }
</style></head><body>
<h1>Dear {{ relation.first_name }} {{ relation.last_name }},</h1>
<p>Spring is here, and with it a full programme: guided walks through the old harbour,
three evening lectures on the history of the canals, and the open day of our restoration
workshop, where volunteers show how a hundred-year-old barge is brought back to life.</p>
<p>As a friend of the foundation you can book every activity a week before anyone else.
Places for the walks are limited to twenty people per group, so do not wait too long.</p>
<p><a class="button" href="https://example.org/programme/spring">See the programme</a></p>
<p>Our work depends on people like you. A gift of any size keeps the workshop open and
the barges afloat: <a href="https://example.org/donate?fund=restoration">support the
restoration fund</a>.</p>
<p>Would you rather help with your hands? <a href="https://example.org/volunteer">Become a
volunteer</a> and join us on Saturday mornings.</p>
<p class="footer">You receive this mail because you are a friend of the foundation.
<a href="https://example.org/about">About us</a>.</p>
</body></html>"""


def mail_settings(database_url: str, workdir: Path, dkim_pem: Path) -> Settings:
    """The throughput benchmarks' worker settings, with DKIM signing and tracking on."""
    return bench_settings(database_url, workdir).model_copy(
        update={
            "dkim_private_key": dkim_pem,
            "dkim_selector": SELECTOR,
            "dkim_domain": "bench.reisplan.localhost",
            "secret_key": "benchmark-secret-not-for-production",
            "public_url": "https://mail.bench.reisplan.localhost",
        }
    )


def make_store(workdir: Path) -> workloads.Store:
    """A migrated SQLite store (WAL, as make_engine sets it) with the template stored the
    way the API stores it: a version row with its links."""
    url = f"sqlite:///{workdir / 'reisplan.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        templates.create(
            session,
            {"key": TEMPLATE, "name": "Spring newsletter", "subject": SUBJECT, "html": HTML},
        )
    return workloads.Store(engine, url)


def link_count(store: workloads.Store) -> int:
    with session_scope(store.engine) as session:
        version = templates.latest(session, TEMPLATE)
        assert version is not None
        return len(version.links)


@dataclass(frozen=True)
class Recipients:
    journey_id: int
    addresses: dict[int, str]  # relation id -> address


def seed(store: workloads.Store, tag: str, n: int, *, trips: bool) -> Recipients:
    """An active one-email journey and n relations; with `trips`, each relation's first
    trip row too (status running at the send step), as admission leaves it."""
    journey_id, addresses = workloads.add_journey_and_relations(store, tag, n)
    if trips:
        with session_scope(store.engine) as session:
            session.add_all(
                Trip(
                    id=trip_id(journey_id, rid, 1),
                    journey_id=journey_id,
                    journey_version=1,
                    relation_id=rid,
                    number=1,
                    current_step=STEP,
                )
                for rid in addresses
            )
    return Recipients(journey_id, addresses)


def send_inputs(recipients: Recipients) -> list[SendEmailInput]:
    """What a new trip's workflow hands `send_email` for its only step (it ends the trip,
    under the contact-pressure policy, Temporal's clock now)."""
    now = datetime.now(UTC)
    return [
        SendEmailInput(
            passage=PassageKey(
                trip_id=trip_id(recipients.journey_id, rid, 1),
                seq=1,
                step_id=STEP,
                step_type="send_email",
                entered_at=now,
            ),
            relation_id=rid,
            journey_id=recipients.journey_id,
            template=TEMPLATE,
            ends_trip=True,
            pressure=SendPressure(zone="UTC", now=now),
        )
        for rid in recipients.addresses
    ]


# --- DKIM variants -------------------------------------------------------------------------


class OpensslDkimSigner(DkimSigner):
    """A what-if, not product code: the same DKIM-Signature header, with the RSA operation
    done by OpenSSL (`cryptography`) instead of dkimpy's pure-Python `pow()`.

    PKCS#1 v1.5 signatures are deterministic, so the header is byte for byte what dkimpy
    makes (checked in `check_signers`). dkimpy has no hook for a signing key object, so
    `install_openssl_rsa` swaps its module-level signing function, in this benchmark
    process only; the swap acts only inside this signer's `sign` (a context variable), so
    the shipped DkimSigner keeps dkimpy's own RSA."""

    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        super().__init__(domain=domain, selector=selector, private_key=private_key)
        loaded = serialization.load_pem_private_key(private_key, password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        self._openssl_key = (loaded, loaded.private_numbers().public_numbers.n)

    def sign(self, message: bytes) -> bytes:
        token = _OPENSSL_KEY.set(self._openssl_key)
        try:
            return super().sign(message)
        finally:
            _OPENSSL_KEY.reset(token)


# The key and its modulus, set while an OpensslDkimSigner signs.
_OPENSSL_KEY: ContextVar[tuple[rsa.RSAPrivateKey, int] | None] = ContextVar(
    "openssl_key", default=None
)
_DKIMPY_SIGN = dkim.RSASSA_PKCS1_v1_5_sign


def _rsa_sign(hash_object: Any, private_key: dict[str, Any]) -> bytes:
    openssl = _OPENSSL_KEY.get()
    if openssl is None:
        return bytes(_DKIMPY_SIGN(hash_object, private_key))
    key, modulus = openssl
    if hash_object.name != "sha256" or modulus != private_key["modulus"]:
        raise RuntimeError("the OpenSSL what-if signs rsa-sha256 with its own key only")
    return key.sign(hash_object.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def install_openssl_rsa() -> None:
    """Let OpensslDkimSigner route dkimpy's RSA operation to OpenSSL (see there)."""
    dkim.RSASSA_PKCS1_v1_5_sign = _rsa_sign


def senders(settings: Settings) -> dict[str, Sender]:
    """The worker's sender (dkimpy signing), the same without DKIM, and the what-if."""
    product = build_sender(settings)
    assert product.dkim is not None and settings.dkim_private_key is not None
    openssl = OpensslDkimSigner(
        domain=settings.dkim_domain,
        selector=settings.dkim_selector,
        private_key=settings.dkim_private_key.read_bytes(),
    )
    return {
        "dkimpy": product,
        "none": replace(product, dkim=None),
        "openssl": replace(product, dkim=openssl),
    }


def check_signers(signed: dict[str, bytes], txt_record: str, key_pem: bytes) -> None:
    """Every DKIM variant's mail verifies against the published key, and OpenSSL's RSA
    signature is byte for byte dkimpy's (the what-if changes speed, nothing else)."""

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return txt_record.encode()

    for variant, payload in signed.items():
        if (b"DKIM-Signature:" in payload) != (variant != "none"):
            raise RuntimeError(f"the {variant} mail is signed when it should not be, or not")
        if variant != "none" and not dkim.verify(payload, dnsfunc=dns):
            raise RuntimeError(f"the {variant} DKIM signature does not verify")
    parsed = dkim.crypto.parse_pem_private_key(key_pem)
    digest = dkim.HashThrough(hashlib.sha256(b"reisplan"))
    loaded = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    token = _OPENSSL_KEY.set((loaded, loaded.private_numbers().public_numbers.n))
    try:
        by_openssl = _rsa_sign(digest, parsed)
    finally:
        _OPENSSL_KEY.reset(token)
    if by_openssl != bytes(_DKIMPY_SIGN(digest, parsed)):
        raise RuntimeError("OpenSSL signed differently from dkimpy")
