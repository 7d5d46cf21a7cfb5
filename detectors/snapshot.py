"""Content snapshot builder for the engines (SPEC §9): a message plus lead context → the
``content_snapshot`` object, labelled with the same seed vocabularies and the same rules as the dbt
models ``int_what_texts`` and ``int_what_content`` (whose headers are the reference), so engines and history agree.
tests/test_what_pipeline.py checks builder and SQL on the same tricky texts.

Rules (mirroring the SQL):
    * whitespace (WS) = space, tab, newline, CR, form feed, vertical tab, no-break space;
    * subject and body are trimmed of spaces as the platform stores them (empty → None); the subject
      has its WS runs collapsed to one space;
    * words = WS-separated tokens, chars = ``len(body)``; email and LinkedIn lengths in words, SMS in
      chars, binned by seed ``content_length_bins``; the subject's length tag in words;
    * a phrase matches the text lowercased with WS runs collapsed to one space, on word boundaries
      (``\\m…\\M``); pain points and angles are every category with a match, the CTA is the phrase whose
      first whole-word occurrence comes first in the body (at one position the longer phrase);
    * subject templates: every seed pattern (PostgreSQL ARE, case-insensitive) the subject matches;
    * personalisation: the lead's company, first name and industry (non-word characters trimmed at
      both ends, 2+ characters, matched like a phrase) in subject or body; recent news / mutual connection from seed ``personalization_cues``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from convintel.synth.vocab import SEEDS_DIR, python_regex

WHITESPACE = " \t\n\r\f\v\u00a0"
_WS_RUN = re.compile(f"[{WHITESPACE}]+")
PERSONALIZATION_FLAGS: tuple[str, ...] = (
    "company_mention", "first_name", "recent_news", "mutual_connection", "industry_specific")
# Lead fields behind the flags that come from the lead (the others come from seed personalization_cues).
LEAD_FIELD_FLAGS: dict[str, tuple[str, ...]] = {
    "company_mention": ("company",),
    "first_name": ("first_name",),
    "industry_specific": ("industry", "organization_industry"),
}
LENGTH_CHANNELS: tuple[str, ...] = ("email", "linkedin", "sms")
MIN_LEAD_VALUE_CHARS = 2


@dataclass(frozen=True)
class Phrase:
    field: str            # pain_point, cta, angle, personalization
    category: str
    phrase: str           # normalised: lowercase, single spaces
    cta_type: str | None
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class LengthBin:
    length_field: str     # email, linkedin, sms, subject
    unit: str             # words or chars
    label: str
    min_length: int
    max_length: int | None

    def holds(self, value: int) -> bool:
        return value >= self.min_length and (self.max_length is None or value <= self.max_length)


@dataclass(frozen=True)
class ContentVocabulary:
    phrases: tuple[Phrase, ...]
    subject_templates: tuple[tuple[str, re.Pattern[str]], ...]
    length_bins: tuple[LengthBin, ...]

    def bins(self, length_field: str) -> tuple[LengthBin, ...]:
        return tuple(b for b in self.length_bins if b.length_field == length_field)

    def cta_type(self, phrase: str) -> str | None:
        return next((p.cta_type for p in self.phrases if p.field == "cta" and p.phrase == phrase), None)


def normalise(text: str | None) -> str:
    """WS runs collapsed to one space, trimmed (the SQL's collapse + btrim)."""
    return _WS_RUN.sub(" ", text or "").strip(" ")


def word_count(text: str | None) -> int:
    return len(normalise(text).split(" ")) if normalise(text) else 0


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A normalised lowercase phrase on word boundaries (SQL ``'\\m' || escaped || '\\M'``)."""
    return re.compile(r"\b(?=\w)" + re.escape(phrase) + r"\b(?<=\w)")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


@lru_cache(maxsize=4)
def load_content_vocabulary(seeds_dir: Path = SEEDS_DIR) -> ContentVocabulary:
    """The WHAT vocabularies from the dbt seed files (the same files dbt loads)."""
    phrases: list[Phrase] = []

    def add(field: str, category: str, phrase: str, cta_type: str | None = None) -> None:
        text = normalise(phrase).lower()
        if text:
            phrases.append(Phrase(field, category.lower(), text, cta_type.lower() if cta_type else None,
                                  phrase_pattern(text)))

    for row in _rows(seeds_dir / "pain_point_keywords.csv"):
        add("pain_point", row["pain_point"], row["keyword"])
    for row in _rows(seeds_dir / "cta_phrases.csv"):
        add("cta", row["cta_phrase"], row["cta_phrase"], row["cta_type"])
    for row in _rows(seeds_dir / "angle_cues.csv"):
        add("angle", row["angle"], row["cue"])
    for row in _rows(seeds_dir / "personalization_cues.csv"):
        add("personalization", row["personalization_flag"], row["cue"])
    templates = tuple((row["subject_template"], python_regex(row["pattern"]))
                      for row in _rows(seeds_dir / "subject_templates.csv"))
    bins = tuple(LengthBin(row["length_field"], row["unit"], row["length_bin"], int(row["min_length"]),
                           int(row["max_length"]) if row["max_length"] else None)
                 for row in _rows(seeds_dir / "content_length_bins.csv"))
    return ContentVocabulary(tuple(phrases), templates, bins)


def _bin(vocabulary: ContentVocabulary, length_field: str, value: int) -> str | None:
    return next((b.label for b in vocabulary.bins(length_field) if b.holds(value)), None)


_EDGE_NON_WORD = re.compile(r"^\W+|\W+$")


def _lead_value(lead: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first present lead field: lowercased, WS collapsed, non-word characters trimmed at both ends."""
    for key in keys:
        value = _EDGE_NON_WORD.sub("", normalise(str(lead[key])).lower()) if lead.get(key) is not None else ""
        if value:
            return value
    return None


def extract_features(channel: str | None, subject: str | None, body: str | None,
                     lead: Mapping[str, Any] | None = None,
                     vocabulary: ContentVocabulary | None = None) -> dict[str, Any]:
    """The content features of one message, exactly as the dbt WHAT models compute them (int_what_touch_features)."""
    vocab = vocabulary or load_content_vocabulary()
    lead = lead or {}
    channel = (channel or "").strip().lower() or None
    body = (body or "").strip(" ") or None
    subject_text = normalise(subject) or None
    search_body = normalise(body).lower()
    has_body = bool(search_body)
    search_full = " ".join(t for t in (subject_text, search_body) if t).lower()

    matched: dict[str, set[str]] = {"pain_point": set(), "angle": set(), "personalization": set()}
    first_cta: tuple[int, int, str] | None = None
    for phrase in vocab.phrases:
        text = search_full if phrase.field == "personalization" else search_body
        if not text or phrase.phrase not in text:
            continue
        found = phrase.pattern.search(text)
        if not found:
            continue
        if phrase.field == "cta":
            key = (found.start(), -len(phrase.phrase), phrase.phrase)
            if first_cta is None or key < first_cta:
                first_cta = key
        else:
            matched[phrase.field].add(phrase.category)

    def lead_flag(flag: str) -> bool:
        value = _lead_value(lead, LEAD_FIELD_FLAGS[flag])
        return bool(value and len(value) >= MIN_LEAD_VALUE_CHARS and search_full
                    and phrase_pattern(value).search(search_full))

    subject_words = word_count(subject_text)
    body_words = word_count(body)
    body_chars = len(body) if body else 0
    length_field = channel if channel in LENGTH_CHANNELS and has_body else None
    length_value = (body_chars if length_field == "sms" else body_words) if length_field else None
    cta = first_cta[2] if first_cta else None
    return {
        "has_subject": subject_words > 0,
        "has_body": has_body,
        "subject_words": subject_words,
        "subject_length": _bin(vocab, "subject", subject_words) if subject_words else None,
        "subject_templates": sorted(name for name, pattern in vocab.subject_templates
                                    if subject_text and pattern.search(subject_text)),
        "pain_points": sorted(matched["pain_point"]),
        "angles": sorted(matched["angle"]),
        "cta_phrase": cta,
        "cta_type": vocab.cta_type(cta) if cta else None,
        "body_words": body_words,
        "body_chars": body_chars,
        "length_field": length_field,
        "length_value": length_value,
        "length_bin": _bin(vocab, length_field, length_value) if length_field and length_value is not None else None,
        "personalization": {
            "company_mention": lead_flag("company_mention"),
            "first_name": lead_flag("first_name"),
            "recent_news": "recent_news" in matched["personalization"],
            "mutual_connection": "mutual_connection" in matched["personalization"],
            "industry_specific": lead_flag("industry_specific"),
        },
    }


def build_content_snapshot(*, channel: str, body: str | None, subject: str | None = None,
                           lead: Mapping[str, Any] | None = None, sequence_step: int | None = None,
                           vocabulary: ContentVocabulary | None = None) -> dict[str, Any]:
    """The ``content_snapshot`` an engine records with a touch (SPEC §3.3, §9): the text as sent, its
    sizes, the personalisation flags and the labelled features (which dbt re-derives from the text)."""
    features = extract_features(channel, subject, body, lead, vocabulary)
    return {
        "channel": (channel or "").strip().lower() or None,
        "sequence_step": sequence_step,
        "subject": (subject or "").strip(" ") or None,
        "body": (body or "").strip(" ") or None,
        "word_count": features["body_words"],
        "char_count": features["body_chars"],
        "personalization": features["personalization"],
        "features": {key: value for key, value in features.items() if key != "personalization"},
    }
