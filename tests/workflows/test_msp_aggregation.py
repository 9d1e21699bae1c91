"""The MSP report aggregation: every customer's report in one CSV, hollow
customers (``"reports": null``) skipped, each customer read with its own
tenant token exchanged from the MSP token."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import druva
from druva.testing import FakeDruva

CUSTOMERS = "/msp/v2/customers"
REPORTS = "/platform/reporting/v1/reports"
REPORT_ID = "epLastBackupStatus"


def aggregate(s: druva.Session, out: Path) -> list[str]:
    """Writes every customer's report rows into ``out``; returns the
    customers skipped for having no reports."""
    skipped: list[str] = []
    with out.open("w", newline="", encoding="utf-8") as file:
        writer: csv.DictWriter[str] | None = None
        for customer in s.paginate(CUSTOMERS):
            tenant = s.customer(customer["id"])
            reports = tenant.get(REPORTS).raise_for_status().json()["reports"]
            if not reports or REPORT_ID not in {report["reportID"] for report in reports}:
                skipped.append(customer["id"])
                continue
            pages = tenant.paginate(
                f"{REPORTS}/{REPORT_ID}", method="POST", json={"filters": {"pageSize": 100}}
            )
            for row in pages:
                record = {"customerID": customer["id"], "accountName": customer["accountName"]}
                record.update(row)
                if writer is None:
                    writer = csv.DictWriter(file, fieldnames=list(record))
                    writer.writeheader()
                writer.writerow(record)
    return skipped


def test_every_customers_report_lands_in_one_csv_and_hollow_customers_are_skipped(
    tmp_path: Path,
) -> None:
    out = tmp_path / "all_customers.csv"
    with FakeDruva(msp=True, customers=4, users=30) as fake:
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, msp=True) as s:
            skipped = aggregate(s, out)
            # Each customer's report read again on its own, to check against.
            expected: list[dict[str, Any]] = []
            for customer in s.paginate(CUSTOMERS):
                if customer["id"] in skipped:
                    continue
                tenant = s.customer(customer["id"])
                body = {"filters": {"pageSize": 500}}
                for row in tenant.paginate(f"{REPORTS}/{REPORT_ID}", method="POST", json=body):
                    expected.append({"customerID": customer["id"], **row})
        requests = fake.requests
        customer_ids = fake.customer_ids

    assert skipped == [customer_ids[-1]], "the last customer is hollow"
    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(expected) > 0
    for row, want in zip(rows, expected):
        assert row["customerID"] == want["customerID"]
        assert row["accountName"]
        assert {key: row[key] for key in want if key != "customerID"} == {
            key: str(value) for key, value in want.items() if key != "customerID"
        }
    assert {row["customerID"] for row in rows} == set(customer_ids[:-1])

    # One MSP token; one exchange per customer, under the MSP token, cached
    # for the second pass; every tenant call carried a bearer token.
    exchanges = [r for r in requests if r["path"].endswith("/token") and "/customers/" in r["path"]]
    assert sorted(r["path"] for r in exchanges) == sorted(
        f"{CUSTOMERS}/{customer}/token" for customer in customer_ids
    )
    assert all(r["auth_scheme"] == "Bearer" and r["method"] == "POST" for r in exchanges)
    assert [r["path"] for r in requests].count("/msp/auth/v1/token") == 1
    tenant_calls = [r for r in requests if r["path"].startswith("/platform/")]
    assert tenant_calls and all(r["auth_scheme"] == "Bearer" for r in tenant_calls)
