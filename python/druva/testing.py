"""Test helpers: ``FakeDruva``, a real local server that behaves like Druva.

Test your own code offline, with no credentials: give its ``client_id``,
``secret`` and ``base_url`` to the code under test, inject faults, and
assert on what it received.

>>> import druva
>>> from druva.testing import FakeDruva
>>> with FakeDruva(users=25, page_size=10) as fake:
...     with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
...         fake.fail_next(503, count=2, path="/insync")  # retried, then OK
...         users = list(s.paginate("/insync/usermanagement/v1/users"))
...     len(users), fake.token_requests
(25, 1)
"""

from __future__ import annotations

from typing import Optional, TypeVar

from druva._druva import _fake_defaults, _FakeServer

__all__ = ["FakeDruva"]

# The defaults are the fake crate's, written once there; the signature shows them.
_DEFAULT = _fake_defaults()

_Fake = TypeVar("_Fake", bound="FakeDruva")


class FakeDruva(_FakeServer):
    """A fake Druva: a real HTTP server on ``127.0.0.1`` that behaves as strictly as Druva.

    It serves the token endpoint with Basic-auth checks, bearer checks (401,
    403), a seeded synthetic inSync data set consistent across endpoints
    (users with their documented filters, devices, backups, restores,
    storages, profiles), the event streams (inSync events v2, Platform events
    v2 and v3, Cyber Resilience events), the Reporting API and Phoenix
    organisations, with Druva's paging, its error envelopes, and a 400 where
    Druva refuses a page token combined with other parameters. Faults can be
    injected (``fail_next()``, ``delay_next()``, ``drop_next()``...) and what
    it received is counted (``token_requests``, ``api_requests``,
    ``requests``). It starts when created, in-process on a free port, and
    stops on ``stop()`` or at the end of its ``with`` block.

    Args:
        client_id: the Client ID it accepts; generated when ``None``.
        secret: the Secret Key it accepts; generated when ``None``.
        token_lifetime: the ``expires_in`` of the tokens it issues, in
            seconds. Default ``1800.0``.
        users: the users of the data set (0 to 100000). Default ``250``.
        page_size: the page size of a list when the request gives none
            (1 to 4097). Default ``100``.
        tls: serve HTTPS with a generated certificate; its CA is
            ``ca_bundle``.
        port: the port to listen on; ``0``: a free one. Default ``0``.
        seed: the seed of the synthetic data set. Default ``0``.
        last_page: how a list's last page ends: ``"empty"``
            (``"nextPageToken": ""``), ``"missing"`` (no ``nextPageToken``)
            or ``"null"``. Default ``"empty"``.
        latency: seconds added before every response, like a WAN round trip.
            Default ``0.0``.
        max_in_flight: answer 429 (without ``Retry-After``) to any request
            beyond this many in flight at once; ``None``: no limit.
        msp: be a Druva MSP: the credential takes its token at
            ``/msp/auth/v1/token``, ``/msp/v3/customers`` (and the older
            ``/msp/v2/customers``) lists ``customer_ids``, and each customer
            has a data set of its own (the last one hollow: ``null`` lists).
        customers: how many customers an MSP has (1 to 100). Default ``3``.
        rate_limit: answer 429 (without ``Retry-After``) to API requests
            beyond this many a second across all callers (1 to 100000; a
            token bucket holding one second's worth); ``None``: no limit.
        tracker_ttl: seconds after which an events v2 tracker (the inSync
            ``tracker``, the Platform v2 page token) is refused with 403,
            unless the request says ``ignoreTrackerExpiry=true``; ``None``:
            trackers never expire.

    Raises:
        ValueError: an argument out of its range.

    >>> with FakeDruva(users=10) as fake:
    ...     with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
    ...         users = list(s.paginate("/insync/usermanagement/v1/users"))
    ...     len(users), fake.token_requests
    (10, 1)
    """

    __slots__ = ()

    def __new__(
        cls: type[_Fake],
        client_id: Optional[str] = None,
        secret: Optional[str] = None,
        token_lifetime: float = _DEFAULT["token_lifetime"],
        users: int = _DEFAULT["users"],
        page_size: int = _DEFAULT["page_size"],
        tls: bool = _DEFAULT["tls"],
        *,
        port: int = _DEFAULT["port"],
        seed: int = _DEFAULT["seed"],
        last_page: str = _DEFAULT["last_page"],
        latency: float = _DEFAULT["latency"],
        max_in_flight: Optional[int] = None,
        msp: bool = _DEFAULT["msp"],
        customers: int = _DEFAULT["customers"],
        rate_limit: Optional[int] = None,
        tracker_ttl: Optional[float] = None,
    ) -> _Fake:
        # Every parameter by name (the class aside), for the server's checks.
        arguments = dict(locals())
        del arguments["cls"]
        return _FakeServer.__new__(cls, arguments)
