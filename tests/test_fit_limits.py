"""Fit data meets one set of checks whether it comes as JSON rows or as a CSV upload."""

from __future__ import annotations

import pytest

from tests.test_optimize_api import long_rows


def _csv(rows: list[dict]) -> str:
    lines = ["date,campaign,spend,revenue"]
    lines += [f"{row['date']},{row['campaign']},{row['spend']},{row['revenue']}" for row in rows]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("huge", ["1e300", "1e160", "1e13"])
@pytest.mark.parametrize("column", ["spend", "revenue"])
def test_huge_numbers_answer_422_naming_row_and_column_in_csv_and_json(
    client, tenant, huge, column
):
    rows = long_rows(days=12)
    rows[4][column] = huge
    as_csv = client.post(
        "/api/optimize/fit", files={"file": ("a.csv", _csv(rows))}, headers=tenant.headers
    )
    rows[4][column] = float(huge)
    as_json = client.post("/api/optimize/fit", json={"rows": rows}, headers=tenant.headers)
    for response in (as_csv, as_json):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "row 6" in detail and column in detail and "larger than 1e+12" in detail, detail


def test_numbers_at_the_cap_fit_without_overflow(client, tenant):
    rows = long_rows(days=12)
    for row in rows:
        row["spend"] *= 1e8
        row["revenue"] = 1e12
    response = client.post(
        "/api/optimize/fit", files={"file": ("a.csv", _csv(rows))}, headers=tenant.headers
    )
    # a 500 would raise here; an answer must be a stored fit or a 422 saying what overflowed
    assert response.status_code in (201, 422), response.text
