"""CSV and JSON rows in the long and wide layouts, and every bad input named."""

import numpy as np
import pytest

from engine.datasets import parse_csv, parse_rows
from engine.errors import EngineError

LONG = """date,campaign,spend,conversions,revenue
2024-01-02,search,120,10,400
2024-01-01,search,100,9,350
2024-01-01,social,50,2,80
2024-01-01,social,25,1,40
"""

SEED_003 = """day,segment_key,spent,conv
2024-03-01,young_urban,200,12
2024-03-02,young_urban,180,11
"""

WIDE = """Month_Year,TV,Digital,SEM,Total Investment,gmv
2023-07,100,50,50,200,1000
2023-08,0,60,40,100,500
"""


def test_long_csv_sorted_by_date_and_summed_per_day():
    data = parse_csv(LONG)
    assert data.layout == "long" and data.metric == "revenue"
    search, social = data.campaigns
    assert [d.isoformat() for d in search.dates] == ["2024-01-01", "2024-01-02"]
    np.testing.assert_array_equal(search.spend, [100, 120])
    np.testing.assert_array_equal(social.spend, [75])
    np.testing.assert_array_equal(social.response, [120])
    assert parse_csv(LONG, metric="conversions").campaigns[0].response.tolist() == [9, 10]


def test_seed_003_column_names():
    data = parse_csv(SEED_003)
    assert data.names == ["young_urban"] and data.metric == "conversions"
    np.testing.assert_array_equal(data.campaigns[0].response, [12, 11])


def test_wide_monthly_credits_gmv_by_spend_share():
    data = parse_csv(WIDE)
    assert data.layout == "wide" and data.names == ["TV", "Digital", "SEM"]
    tv, digital, _ = data.campaigns
    np.testing.assert_allclose(tv.response, [500, 0])
    np.testing.assert_allclose(digital.response, [250, 300])
    assert tv.dates[0].isoformat() == "2023-07-01"


def test_json_rows_with_numbers():
    data = parse_rows([{"date": "2024-01-01", "campaign": "a", "spend": 5, "conversions": 1.5}])
    assert data.campaigns[0].response.tolist() == [1.5]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("date,campaign,spend,conversions\n2024-01-01,a,-5,1\n", "campaign 'a' .*negative"),
        ("date,campaign,spend,conversions\n2024-01-01,a,lots,1\n", "campaign 'a' .*not a number"),
        ("date,campaign,spend,conversions\n2024-01-01,a,nan,1\n", "campaign 'a' .*finite"),
        ("date,campaign,spend,conversions\n2024-01-01,a,,1\n", "campaign 'a' .*missing"),
        ("date,campaign,spend,conversions\nsoon,a,5,1\n", "campaign 'a' .*not a date"),
        ("date,campaign,spend,clicks\n2024-01-01,a,5,1\n", "no conversions column"),
        (
            "date,campaign,spend,revenue,currency\n2024-01-01,a,5,1,EUR\n2024-01-02,b,5,1,USD\n",
            "campaign 'b': inconsistent units",
        ),
        ("Month_Year,TV,gmv,Total Investment\n2023-07,100,5,100000\n", "inconsistent units"),
        ("date,campaign,spend,conversions\n", "no rows"),
        ("", "no header"),
    ],
)
def test_bad_data_names_the_campaign_and_problem(text, problem):
    with pytest.raises(EngineError, match=problem):
        parse_csv(text)


def test_rows_must_be_objects_and_metric_known():
    with pytest.raises(EngineError, match="object"):
        parse_rows([["2024-01-01", "a", 5, 1]])
    with pytest.raises(EngineError, match="unknown metric"):
        parse_csv(LONG, metric="clicks")
