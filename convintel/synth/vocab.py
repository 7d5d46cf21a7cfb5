"""The content vocabularies, read from the dbt seeds that are their single source of truth.

dbt labels history with these seeds in SQL (case-insensitive, word-boundary matching); the synthetic
world builds its texts from the same rows, so a generated text carries exactly the planted labels.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from convintel.settings import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


@dataclass(frozen=True)
class Vocabulary:
    pain_points: tuple[str, ...]                 # categories, in seed order
    pain_keywords: tuple[tuple[str, ...], ...]   # keywords per category
    cta_phrases: tuple[str, ...]
    cta_phrase_types: tuple[str, ...]            # the type of each phrase
    cta_types: tuple[str, ...]                   # distinct types, in seed order
    angles: tuple[str, ...]
    angle_cues: tuple[tuple[str, ...], ...]      # cues per angle
    subject_templates: tuple[str, ...]
    subject_patterns: tuple[str, ...]            # PostgreSQL regular expressions (match with ~*)


def _read(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            raise ValueError(f"{path.name}: expected columns {columns}, found {reader.fieldnames}")
        return [tuple(row[c].strip() for c in columns) for row in reader]


def _grouped(rows: list[tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    groups: dict[str, list[str]] = {}
    for key, value in rows:
        groups.setdefault(key, []).append(value)
    return tuple(groups), tuple(tuple(values) for values in groups.values())


@lru_cache(maxsize=4)
def load_vocabulary(seeds_dir: Path = SEEDS_DIR) -> Vocabulary:
    pain_points, pain_keywords = _grouped(_read(seeds_dir / "pain_point_keywords.csv", ("pain_point", "keyword")))
    ctas = _read(seeds_dir / "cta_phrases.csv", ("cta_phrase", "cta_type"))
    angles, angle_cues = _grouped(_read(seeds_dir / "angle_cues.csv", ("angle", "cue")))
    subjects = _read(seeds_dir / "subject_templates.csv", ("subject_template", "pattern", "description"))
    return Vocabulary(
        pain_points=pain_points,
        pain_keywords=pain_keywords,
        cta_phrases=tuple(phrase for phrase, _ in ctas),
        cta_phrase_types=tuple(kind for _, kind in ctas),
        cta_types=tuple(dict.fromkeys(kind for _, kind in ctas)),
        angles=angles,
        angle_cues=angle_cues,
        subject_templates=tuple(row[0] for row in subjects),
        subject_patterns=tuple(row[1] for row in subjects),
    )


def python_regex(pattern: str) -> re.Pattern[str]:
    """A seed pattern (PostgreSQL ARE, applied case-insensitively) as a Python regex.

    Only the constructs the seeds use differ: ``\\m``/``\\M`` (start/end of a word).
    """
    translated = pattern.replace(r"\m", r"\b(?=\w)").replace(r"\M", r"\b(?<=\w)")
    return re.compile(translated, re.IGNORECASE)


def phrase_regex(phrase: str) -> re.Pattern[str]:
    """How a vocabulary phrase is found in a text: case-insensitive, on word boundaries
    (SQL: ``text ~* ('\\m' || phrase || '\\M')``)."""
    return re.compile(r"\b(?=\w)" + re.escape(phrase) + r"\b(?<=\w)", re.IGNORECASE)
