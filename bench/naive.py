"""The naive row-by-row implementation of the learning (issue 11, the benchmark's comparison): the same
statistics the dbt models + detectors compute, written the way a straightforward Python program would.
Per client it reads every lead and activity row into Python dicts (psycopg cursor iteration), derives
outcomes, touches and content features in Python loops (the SPEC §4 rules, the dbt seeds'
vocabularies, ``detectors.snapshot.extract_features`` per touch), counts them into the marts' shapes and
calls the same ``detectors.*.detect_*`` inference. It stores nothing.

It follows the dbt models closely but not to the last digit (e.g. no duplicate-row search, timezone
names from Python's zoneinfo instead of pg_timezone_names); ``tests/test_bench_naive.py`` checks that
its headline numbers — per client analysed leads with an outcome, conversions and touches per channel —
equal the marts'. ``run_naive(url, as_of, deadline=...)`` raises ``NaiveTimeout`` past the deadline.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from convintel.synth.vocab import SEEDS_DIR, python_regex
from detectors.als import COMPONENT_MAX, DEFAULT_WEIGHTS, RISK_MAX
from detectors.how import HowInputs, detect_how
from detectors.snapshot import extract_features, load_content_vocabulary
from detectors.what import WhatInputs, detect_what
from detectors.when import WhenInputs, detect_when
from detectors.who import WhoInputs, detect_who

STALE_AFTER_DAYS = 30
COMPONENTS = ("data_quality", "authority", "company_fit", "timing", "risk")
TIERS = ((85, "hot"), (60, "warm"), (35, "cool"), (20, "cold"), (0, "dead"))
SENIORITY_SYNONYMS = {"owner": "founder", "c_level": "c_suite", "cxo": "c_suite", "executive": "c_suite",
                      "vice_president": "vp", "intern": "entry", "junior": "entry"}
SIZE_BUCKETS = ((5, "1-5"), (15, "6-15"), (30, "16-30"), (50, "31-50"), (100, "51-100"), (500, "101-500"))


class NaiveTimeout(RuntimeError):
    """The naive run passed its deadline (the benchmark reports 'did not finish in X')."""


@dataclass
class NaiveResult:
    seconds: float
    clients: int
    leads_read: int
    activities_read: int
    # per client: leads_with_outcome, conversions, touches_by_channel
    headline: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    gate_passed: dict[str, int] = field(default_factory=dict)


def _csv(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=1)
def _vocabularies() -> dict[str, Any]:
    actions = {r["action"]: r for r in _csv("activity_actions")}
    title_rules = sorted(_csv("title_normalization"), key=lambda r: int(r["priority"]))
    return {
        "actions": actions,
        "channels": {r["channel"] for r in actions.values() if r["channel"]},
        "status_class": {r["status"]: r["status_class"] for r in _csv("lead_statuses")},
        "title_rules": [(python_regex(r["pattern"]), r["normalized_title"], r["seniority"]) for r in title_rules],
        "seniorities": {r["seniority"] for r in title_rules},
        "timezones": {name.lower(): name for name in available_timezones()},
    }


def _norm(text: str | None) -> str | None:
    return " ".join(text.split()).lower() or None if text is not None else None


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year, month = day.year + (month - 1) // 12, (month - 1) % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def _als(lead: dict) -> tuple[int | None, dict[str, float | None]]:
    raw = lead["als_components"]
    if not isinstance(raw, dict):
        return None, {c: None for c in COMPONENTS}
    values: dict[str, float | None] = {}
    for c in COMPONENTS:
        v = raw.get(c)
        values[c] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    score = sum(min(max(values[c] or 0, 0), COMPONENT_MAX[c]) / COMPONENT_MAX[c] * DEFAULT_WEIGHTS[c] * 100
                for c in COMPONENT_MAX) - min(max(values["risk"] or 0, 0), RISK_MAX)
    return int(round(max(0, min(100, score)))), values


def _tier(score: int | None) -> str | None:
    return None if score is None else next(t for floor, t in TIERS if score >= floor)


def _profile(lead: dict, first_touch_at: datetime | None, vocab: dict) -> dict[str, str]:
    """The WHO dimensions of one lead (int_lead_profiles' rules, row by row)."""
    title, title_seniority = "other", None
    key = _norm(lead["title"])
    if key:
        for pattern, normalized, seniority in vocab["title_rules"]:
            if pattern.search(key):
                title, title_seniority = normalized, seniority
                break
    own = None
    if lead["seniority_level"] and lead["seniority_level"].strip():
        k = "_".join(lead["seniority_level"].strip().lower().replace("-", " ").split())
        k = SENIORITY_SYNONYMS.get(k, k)
        own = k if k in vocab["seniorities"] else None
    employees = lead["organization_employee_count"]
    size = "unknown" if employees is None or employees < 1 else next(
        (label for top, label in SIZE_BUCKETS if employees <= top), "500+")
    reference = (first_touch_at or lead["created_at"]).astimezone(timezone.utc).date()
    started, funded = lead["employment_start_date"], lead["organization_latest_funding_date"]
    return {
        "normalized_title": title,
        "seniority": own or title_seniority or "unknown",
        "industry": _norm(lead["organization_industry"]) or "unknown",
        "size_bucket": size,
        "is_new_role": str(bool(started and _months_before(reference, 6) < started <= reference)).lower(),
        "is_hiring": str(bool(lead["organization_is_hiring"])).lower(),
        "is_recently_funded": str(bool(funded and _months_before(reference, 12) <= funded <= reference)).lower(),
    }


def _percentile(values: list[float], q: float) -> float | None:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _snapshot_text(snapshot: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(snapshot, dict):
        return None
    for k in keys:
        v = snapshot.get(k)
        if isinstance(v, str) and v.strip():
            return v
    return None


def learn_client(conn: psycopg.Connection, client: dict, as_of: datetime, computed_at: datetime,
                 deadline: float) -> tuple[dict[str, Any], list, int, int]:
    """Everything for one client, row by row: (headline, detector results, leads read, activities read)."""
    vocab = _vocabularies()
    content_vocab = load_content_vocabulary()
    client_tz = vocab["timezones"].get((client["timezone"] or "").strip().lower())

    leads: dict[UUID, dict] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for lead in cur.execute("select * from leads where client_id = %s", (client["id"],)):
            if lead["deleted_at"] is not None or lead["created_at"] is None or lead["created_at"] > as_of:
                continue
            leads[lead["id"]] = lead
    activities: dict[UUID, list[dict]] = defaultdict(list)
    activities_read = 0
    with conn.cursor(row_factory=dict_row) as cur:
        for act in cur.execute("select * from activities where client_id = %s", (client["id"],)):
            activities_read += 1
            if activities_read % 20000 == 0 and time.monotonic() > deadline:
                raise NaiveTimeout
            channel = (act["channel"] or "").strip().lower() or None
            action = (act["action"] or "").strip().lower() or None
            rule = vocab["actions"].get(action)
            if (act["lead_id"] not in leads or act["created_at"] is None or channel not in vocab["channels"]
                    or rule is None or (rule["channel"] and rule["channel"] != channel) or act["created_at"] > as_of):
                continue
            act["channel"], act["rule"] = channel, rule
            activities[act["lead_id"]].append(act)

    # Outcomes and touches per lead (SPEC §4).
    who_rows, touches_all = [], []
    for lead_id, lead in leads.items():
        if time.monotonic() > deadline:
            raise NaiveTimeout
        acts = activities.get(lead_id, [])
        status_class = vocab["status_class"].get((lead["status"] or "").strip().lower(), "open")
        meetings = [a["created_at"] for a in acts if a["rule"]["is_booking"] == "true"]
        booking = min(meetings) if meetings else (lead["converted_at"] if status_class == "converted" else None)
        if status_class == "converted" and booking is None:
            continue
        booked_at = booking if booking is not None and booking <= as_of else None
        outbound = sorted((a for a in acts if a["rule"]["is_outbound"] == "true"
                           and (booked_at is None or a["created_at"] < booked_at)),
                          key=lambda a: (a["created_at"], str(a["id"])))
        last_touch_at = outbound[-1]["created_at"] if outbound else None
        if booked_at is not None:
            outcome = "converted"
        elif status_class == "failed":
            outcome = "failed"
        elif (last_touch_at or lead["created_at"]) <= as_of - timedelta(days=STALE_AFTER_DAYS):
            outcome = "stale"
        else:
            outcome = "in_flight"
        tz_name = vocab["timezones"].get((lead["timezone"] or "").strip().lower())
        tz_source = "lead" if tz_name else "client" if client_tz else "default"
        tz = ZoneInfo(tz_name or client_tz or "UTC")
        score, components = _als(lead)
        tier = _tier(score)
        first_touch_at = outbound[0]["created_at"] if outbound else None
        lead_row = {"lead_id": lead_id, "outcome": outcome, "converted": outcome == "converted", "tier": tier,
                    "components": components, "first_touch_at": first_touch_at, "booked_at": booked_at,
                    "touches": len(outbound), "tz_source": tz_source, "has_tz": bool((lead["timezone"] or "").strip()),
                    "tz_invalid": bool((lead["timezone"] or "").strip()) and tz_name is None,
                    "profile": _profile(lead, first_touch_at, vocab), "path": []}
        who_rows.append(lead_row)
        seen_channels: set[str] = set()
        previous = None
        for number, act in enumerate(outbound, start=1):
            seen_channels.add(act["channel"])
            local = act["created_at"].astimezone(tz)
            subject = _snapshot_text(act["content_snapshot"], ("subject",)) or ((act["subject"] or "").strip() or None)
            body = _snapshot_text(act["content_snapshot"], ("body", "content")) or (
                (act["content_preview"] or "").strip() or None)
            touch = {
                "lead": lead_row, "number": number, "channel": act["channel"], "last": number == len(outbound),
                "converting": outcome == "converted" and number == len(outbound),
                "previous_channel": previous["channel"] if previous else None,
                "gap_days": (act["created_at"] - previous["created_at"]).total_seconds() / 86400 if previous else None,
                "day": local.weekday(), "hour": local.hour, "channels_so_far": len(seen_channels),
                "first_channel": outbound[0]["channel"],
                "features": extract_features(act["channel"], subject, body,
                                             {"company": lead["company"], "first_name": lead["first_name"],
                                              "organization_industry": lead["organization_industry"]}, content_vocab),
            }
            lead_row["path"].append(act["channel"])
            touches_all.append(touch)
            previous = act

    results = [_who(client["id"], who_rows, computed_at), _what(client["id"], touches_all, computed_at),
               _when(client, who_rows, touches_all, computed_at), _how(client["id"], who_rows, touches_all, computed_at)]
    final = [r for r in who_rows if r["outcome"] != "in_flight"]
    headline = {"leads_with_outcome": len(final), "conversions": sum(r["converted"] for r in final),
                "touches_by_channel": dict(Counter(t["channel"] for t in touches_all))}
    return headline, results, len(leads), activities_read


def _who(client_id: UUID, rows: list[dict], computed_at: datetime):
    final = [r for r in rows if r["outcome"] != "in_flight"]
    dims: Counter = Counter()
    conv: Counter = Counter()
    combos: Counter = Counter()
    combo_conv: Counter = Counter()
    for r in final:
        cats = {**r["profile"], "als_tier": r["tier"] or "unknown"}
        for dim, cat in cats.items():
            dims[(dim, cat)] += 1
            conv[(dim, cat)] += r["converted"]
        comps = r["components"]
        if all(comps[c] is not None for c in COMPONENTS):
            limits = {**COMPONENT_MAX, "risk": RISK_MAX}
            key = tuple(min(max(comps[c], 0), limits[c]) for c in COMPONENTS)
            combos[key] += 1
            combo_conv[key] += r["converted"]
    dimension_stats = pd.DataFrame([{"dimension": d, "category": c, "leads": n, "conversions": conv[(d, c)]}
                                    for (d, c), n in sorted(dims.items())],
                                   columns=["dimension", "category", "leads", "conversions"])
    component_combinations = pd.DataFrame([{**dict(zip(COMPONENTS, k)), "leads": n, "conversions": combo_conv[k]}
                                           for k, n in sorted(combos.items())],
                                          columns=[*COMPONENTS, "leads", "conversions"])
    inputs = WhoInputs(client_id, len(final), sum(r["converted"] for r in final), dimension_stats, component_combinations)
    return detect_who(inputs, computed_at=computed_at)


def _what(client_id: UUID, touches: list[dict], computed_at: datetime):
    features: Counter = Counter()
    feature_conv: Counter = Counter()
    lengths: Counter = Counter()
    population: Counter = Counter()
    population_conv: Counter = Counter()
    exclusions = Counter()
    analysed = conversions = 0
    for t in touches:
        f = t["features"]
        exclusions["touches"] += 1
        if t["lead"]["outcome"] == "in_flight" and t["last"]:
            exclusions["censored_touches"] += 1
            continue
        if not (f["has_subject"] or f["has_body"]):
            exclusions["touches_without_content"] += 1
            continue
        analysed += 1
        conversions += t["converting"]
        stratum = min(t["number"], 10)
        labels: list[tuple[str, str, int | None]] = []
        if f["has_subject"]:
            labels += [("subject_template", c, None) for c in (f["subject_templates"] or ["none"])]
            labels.append(("subject_length", f["subject_length"], f["subject_words"]))
        if f["has_body"]:
            labels += [("pain_point", c, None) for c in (f["pain_points"] or ["none"])]
            labels += [("cta", f["cta_phrase"] or "none", None), ("cta_type", f["cta_type"] or "none", None)]
            labels += [("angle", c, None) for c in (f["angles"] or ["none"])]
        if f["length_field"]:
            labels.append((f"length_{f['length_field']}", f["length_bin"], f["length_value"]))
        flags = [k for k, v in f["personalization"].items() if v]
        labels += [("personalization", k, None) for k in (flags or ["none"])]
        for name, category, length in labels:
            key = (name, category, stratum)
            features[key] += 1
            feature_conv[key] += t["converting"]
            if length is not None:
                lengths[key] += length
        for name in {name for name, _, _ in labels}:
            population[(name, stratum)] += 1
            population_conv[(name, stratum)] += t["converting"]
    feature_stats = pd.DataFrame(
        [{"field": n, "category": c, "touch_number_stratum": s, "touches": k, "conversions": feature_conv[(n, c, s)],
          "length_total": lengths.get((n, c, s)) if n.startswith(("length_", "subject_length")) else None}
         for (n, c, s), k in sorted(features.items(), key=lambda kv: tuple(map(str, kv[0])))],
        columns=["field", "category", "touch_number_stratum", "touches", "conversions", "length_total"])
    population_stats = pd.DataFrame(
        [{"field": n, "touch_number_stratum": s, "touches": k, "conversions": population_conv[(n, s)]}
         for (n, s), k in sorted(population.items())],
        columns=["field", "touch_number_stratum", "touches", "conversions"])
    inputs = WhatInputs(client_id, analysed, conversions, feature_stats, population_stats,
                        {k: int(v) for k, v in exclusions.items()})
    return detect_what(inputs, computed_at=computed_at)


def _when(client: dict, leads: list[dict], touches: list[dict], computed_at: datetime):
    hazard: dict[int, Counter] = defaultdict(Counter)
    slots: Counter = Counter()
    slot_bookings: Counter = Counter()
    gaps: dict[int, list[float]] = defaultdict(list)
    day_hour: Counter = Counter()
    day_hour_bookings: Counter = Counter()
    for t in touches:
        h = hazard[t["number"]]
        h["leads_reached"] += 1
        h["bookings"] += t["converting"]
        if t["last"]:
            outcome = t["lead"]["outcome"]
            h["censored_after" if outcome == "in_flight" else f"{outcome}_after"] += outcome != "converted"
        stratum = min(t["number"], 10)
        for dim, slot in (("day", t["day"]), ("hour", t["hour"])):
            slots[(dim, slot, stratum)] += 1
            slot_bookings[(dim, slot, stratum)] += t["converting"]
        day_hour[(t["day"], t["hour"])] += 1
        day_hour_bookings[(t["day"], t["hour"])] += t["converting"]
        if t["lead"]["converted"] and t["number"] > 1:
            gaps[t["number"] - 1].append(t["gap_days"])
    hazard_frame = pd.DataFrame(
        [{"touch_number": k, "leads_reached": c["leads_reached"], "bookings": c["bookings"],
          "censored_after": c["censored_after"], "failed_after": c["failed_after"], "stale_after": c["stale_after"]}
         for k, c in sorted(hazard.items())],
        columns=["touch_number", "leads_reached", "bookings", "censored_after", "failed_after", "stale_after"])
    slot_frame = pd.DataFrame([{"dimension": d, "slot": s, "touch_stratum": k, "touches": n,
                                "bookings": slot_bookings[(d, s, k)]} for (d, s, k), n in sorted(slots.items())],
                              columns=["dimension", "slot", "touch_stratum", "touches", "bookings"])
    gap_frame = pd.DataFrame([{"gap_number": k, "sequences": len(v), "mean_days": statistics.fmean(v),
                               "median_days": _percentile(v, 0.5), "p25_days": _percentile(v, 0.25),
                               "p75_days": _percentile(v, 0.75)} for k, v in sorted(gaps.items())],
                             columns=["gap_number", "sequences", "mean_days", "median_days", "p25_days", "p75_days"])
    day_hour_frame = pd.DataFrame([{"day": d, "hour": h, "touches": n, "bookings": day_hour_bookings[(d, h)]}
                                   for (d, h), n in sorted(day_hour.items())],
                                  columns=["day", "hour", "touches", "bookings"])
    touched = [r for r in leads if r["touches"]]
    days = [(r["booked_at"] - r["first_touch_at"]).total_seconds() / 86400 for r in touched if r["converted"]]
    timing = {"avg_days_to_convert": statistics.fmean(days) if days else None,
              "median_days_to_convert": _percentile(days, 0.5), "p80_days_to_convert": _percentile(days, 0.8),
              "p95_days_to_convert": _percentile(days, 0.95)}
    sources = Counter(r["tz_source"] for r in touched)
    timezones = {"leads_timezone_lead": sources["lead"], "leads_timezone_client": sources["client"],
                 "leads_timezone_default": sources["default"],
                 "leads_missing_timezone": sum(not r["has_tz"] for r in touched),
                 "leads_invalid_timezone": sum(r["tz_invalid"] for r in touched),
                 "client_timezone": client["timezone"], "has_valid_client_timezone": bool(client["timezone"])}
    inputs = WhenInputs(client["id"], len(touched), len(touches), sum(r["converted"] for r in touched),
                        sum(r["outcome"] == "in_flight" for r in touched), hazard_frame, slot_frame, gap_frame,
                        timing, day_hour_frame, timezones)
    return detect_when(inputs, computed_at=computed_at)


def _how(client_id: UUID, leads: list[dict], touches: list[dict], computed_at: datetime):
    paths: dict[str, Counter] = defaultdict(Counter)
    path_shape: dict[str, tuple[int, int, str]] = {}
    for r in leads:
        if not r["path"] or r["outcome"] == "in_flight":
            continue
        key = ">".join(r["path"])
        paths[key]["leads"] += 1
        paths[key]["conversions"] += r["converted"]
        path_shape[key] = (len(r["path"]), len(set(r["path"])), r["path"][0])
    touch_stats: Counter = Counter()
    touch_bookings: Counter = Counter()
    transitions: Counter = Counter()
    transition_bookings: Counter = Counter()
    for t in touches:
        if t["lead"]["outcome"] == "in_flight" and t["last"]:
            continue
        key = (t["number"], t["channel"], t["channels_so_far"], t["first_channel"], t["lead"]["tier"] or "unknown")
        touch_stats[key] += 1
        touch_bookings[key] += t["converting"]
        if t["previous_channel"]:
            transitions[(t["previous_channel"], t["channel"])] += 1
            transition_bookings[(t["previous_channel"], t["channel"])] += t["converting"]
    path_frame = pd.DataFrame([{"channel_path": p, "touches": path_shape[p][0], "distinct_channels": path_shape[p][1],
                                "first_channel": path_shape[p][2], "leads": c["leads"], "conversions": c["conversions"]}
                               for p, c in sorted(paths.items())],
                              columns=["channel_path", "touches", "distinct_channels", "first_channel", "leads",
                                       "conversions"])
    touch_frame = pd.DataFrame([{"touch_number": k[0], "channel": k[1], "channels_so_far": k[2], "first_channel": k[3],
                                 "als_tier": k[4], "touches": n, "bookings": touch_bookings[k]}
                                for k, n in sorted(touch_stats.items())],
                               columns=["touch_number", "channel", "channels_so_far", "first_channel", "als_tier",
                                        "touches", "bookings"])
    transition_frame = pd.DataFrame([{"from_channel": a, "to_channel": b, "transitions": n,
                                      "bookings": transition_bookings[(a, b)]} for (a, b), n in sorted(transitions.items())],
                                    columns=["from_channel", "to_channel", "transitions", "bookings"])
    final = [r for r in leads if r["path"] and r["outcome"] != "in_flight"]
    inputs = HowInputs(client_id, len(final), sum(r["converted"] for r in final), path_frame, touch_frame,
                       transition_frame)
    return detect_how(inputs, computed_at=computed_at)


def run_naive(url: str, as_of: datetime, *, time_limit: float | None = None) -> NaiveResult:
    """The whole learning, naively, client by client. Raises NaiveTimeout after ``time_limit`` seconds."""
    started = time.monotonic()
    deadline = started + time_limit if time_limit else float("inf")
    computed_at = datetime.now(timezone.utc).replace(microsecond=0)
    result = NaiveResult(seconds=0.0, clients=0, leads_read=0, activities_read=0, gate_passed=Counter())
    with psycopg.connect(url) as conn:
        clients = conn.execute("select id, timezone from clients where deleted_at is null order by id").fetchall()
        for client_id, tz in clients:
            headline, results, leads_read, activities_read = learn_client(
                conn, {"id": client_id, "timezone": tz}, as_of, computed_at, deadline)
            result.headline[client_id] = headline
            result.clients += 1
            result.leads_read += leads_read
            result.activities_read += activities_read
            for r in results:
                result.gate_passed[r.pattern_type] += r.patterns is not None
    result.seconds = time.monotonic() - started
    result.gate_passed = dict(result.gate_passed)
    return result
