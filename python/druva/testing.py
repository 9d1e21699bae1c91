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

from druva._druva import FakeDruva

__all__ = ["FakeDruva"]
