"""The WHAT phrase expressions (dbt_project/macros/what_phrases.sql) on a hand-made vocabulary and tricky
texts: each expression must equal the plain definition of the rule — a regex word-boundary match per
phrase, categories aggregated per text, the first CTA by (position, longer phrase, phrase) — and the
hand-derived values. The macros are rendered by `dbt compile --inline` against a vocabulary table in
the test database, then run there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from support import dbt_or_fail

pytestmark = pytest.mark.slow

# (field, category, phrase, cta_type); patterns are built as int_what_vocabulary builds them.
VOCABULARY = [
    ("pain_point", "time", "time", None),
    ("pain_point", "time", "manual work", None),
    ("pain_point", "cost", "costs", None),
    ("pain_point", "zeta", "zeta", None),
    ("angle", "social_proof", "customers love", None),
    ("angle", "roi", "roi", None),
    ("cta", "book a call", "book a call", "direct_ask"),
    ("cta", "book a call with me", "book a call with me", "direct_ask"),  # same position: the longer wins
    ("cta", "let's talk", "let's talk", "casual"),                         # a quote in a literal
    ("cta", "chat", "chat", "soft_ask"),
    ("personalization", "recent_news", "recent news", None),
    ("personalization", "mutual_connection", "mutual connection", None),
]

TEXTS = {
    1: "sometimes the time goes. book a call with me today, or let's talk.",
    2: "chatting is no chat. zeta costs: roi! customers love it",
    3: "no match here at all, sometimesx",
    4: "",
    5: "let's talk. book a call. chat",
    6: "timetime time. chat chat book a call with",
}
# For personalization: the text as search_full (subject and body).
FULL_TEXTS = {1: "recent news: mutual connectionS", 2: "a mutual connection", 3: "recent newsletter", 4: "", 5: "", 6: ""}

EXPECTED = {
    1: (["time"], None, "book a call with me", "direct_ask", True, False),
    2: (["cost", "zeta"], ["roi", "social_proof"], "chat", "soft_ask", False, True),
    3: (None, None, None, None, False, False),
    4: (None, None, None, None, False, False),
    5: (None, None, "let's talk", "casual", False, False),
    6: (["time"], None, "chat", "soft_ask", False, False),
}

INLINE = """
{%- set rows = what_vocabulary_rows(api.Relation.create(database=target.database, schema='public',
                                                        identifier='vocabulary_under_test')) -%}
select
    texts.id,
    {{ what_matched_categories(rows, 'pain_point', 'texts.body') }} as pain_points,
    {{ what_matched_categories(rows, 'angle', 'texts.body') }} as angles,
    {{ what_first_cta(rows, 'keys.cta_key', 'phrase') }} as cta_phrase,
    {{ what_first_cta(rows, 'keys.cta_key', 'cta_type') }} as cta_type,
    {{ what_category_matched(rows, 'personalization', 'recent_news', 'texts.full_text') }} as has_recent_news,
    {{ what_category_matched(rows, 'personalization', 'mutual_connection', 'texts.full_text') }} as has_mutual_connection
from texts_under_test as texts
cross join lateral (select {{ what_first_cta_key(rows, 'texts.body') }} as cta_key) as keys
order by texts.id
"""

# The rules written plainly: one regex per (text, phrase), aggregated per text.
ORACLE = """
with matches as (
    select texts.id, v.field, v.category, v.phrase, v.cta_type,
           regexp_instr(case when v.field = 'personalization' then texts.full_text else texts.body end,
                        v.phrase_pattern) as position
    from texts_under_test as texts cross join vocabulary_under_test as v
),
categories as (
    select id,
           array_agg(distinct category order by category) filter (where field = 'pain_point') as pain_points,
           array_agg(distinct category order by category) filter (where field = 'angle') as angles,
           coalesce(bool_or(category = 'recent_news') filter (where field = 'personalization'), false) as has_recent_news,
           coalesce(bool_or(category = 'mutual_connection') filter (where field = 'personalization'), false)
               as has_mutual_connection
    from matches where position > 0 group by id
),
first_ctas as (
    select distinct on (id) id, phrase as cta_phrase, cta_type
    from matches where field = 'cta' and position > 0
    order by id, position, char_length(phrase) desc, phrase
)
select texts.id, categories.pain_points, categories.angles, first_ctas.cta_phrase, first_ctas.cta_type,
       coalesce(categories.has_recent_news, false), coalesce(categories.has_mutual_connection, false)
from texts_under_test as texts
left join categories on categories.id = texts.id
left join first_ctas on first_ctas.id = texts.id
order by texts.id
"""


def compiled_inline(url: str, target: Path) -> str:
    """The compiled SQL of INLINE (dbt prints it as JSON with --output json)."""
    result = dbt_or_fail(["compile", "--inline", INLINE, "--output", "json", "--log-format", "json"], url, target)
    for line in result.stdout.splitlines():
        try:
            data = json.loads(line).get("data", {})
        except ValueError:
            continue
        if "compiled" in data:
            return data["compiled"]
    pytest.fail(f"no compiled SQL in dbt's output:\n{result.stdout[-3000:]}")


@pytest.fixture(scope="module")
def results(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    url = module_db_url
    with psycopg.connect(url) as conn:
        conn.execute("create table vocabulary_under_test (field text, category text, phrase text, cta_type text,"
                     " phrase_pattern text)")
        conn.execute("create table texts_under_test (id integer primary key, body text, full_text text)")
        for field, category, phrase, cta_type in VOCABULARY:
            pattern = r"\m" + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", phrase) + r"\M"
            conn.execute("insert into vocabulary_under_test values (%s, %s, %s, %s, %s)",
                         (field, category, phrase, cta_type, pattern))
        for n, body in TEXTS.items():
            conn.execute("insert into texts_under_test values (%s, %s, %s)", (n, body, FULL_TEXTS[n]))
    sql = compiled_inline(url, tmp_path_factory.mktemp("what_sql_phrases"))
    with psycopg.connect(url) as conn:
        return {"sql": sql, "expressions": conn.execute(sql).fetchall(), "oracle": conn.execute(ORACLE).fetchall()}


def test_expressions_equal_the_plain_rule(results: dict) -> None:
    assert results["expressions"] == results["oracle"]


def test_expressions_give_the_hand_derived_features(results: dict) -> None:
    got = {row[0]: tuple(row[1:]) for row in results["expressions"]}
    assert got == EXPECTED


def test_every_phrase_is_a_literal_and_the_quote_is_escaped(results: dict) -> None:
    assert "'let''s talk'" in results["sql"]
    assert "vocabulary_under_test" not in results["sql"]
