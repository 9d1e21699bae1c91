"""Test helpers: :class:`FakeDruva`, a real local server that behaves like Druva.

Use it to test your own code offline, with no credentials:

>>> from druva.testing import FakeDruva
>>> with FakeDruva(users=25) as fake:                         # doctest: +SKIP
...     with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
...         assert len(list(s.paginate("/insync/usermanagement/v1/users"))) == 25
"""

from __future__ import annotations

from druva._druva import FakeDruva

__all__ = ["FakeDruva"]
