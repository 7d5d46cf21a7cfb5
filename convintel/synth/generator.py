"""``generate``: write a synthetic world into a migrated database and its planted truth to JSON."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from convintel.synth import catalog
from convintel.synth.clock import DAY, ZoneClock
from convintel.synth.content import ContentTables
from convintel.synth.load import copy_payload, encode_rows, fmt_bool, fmt_text, fmt_timestamp, fmt_uuid
from convintel.synth.model import (ALS_SIGNALS, BASELINE_PROBABILITY, EFFECTIVE_THRESHOLD, LENGTH_BINS, LENGTH_UNIT,
                                   MAX_TOUCHES, NEUTRAL_BOUND, NULL_PROBABILITY, SIZE_BUCKETS, TIMING_SIGNALS, baseline_logit,
                                   effects_to_json)
from convintel.synth.vocab import load_vocabulary
from convintel.synth.world import (BATCH_LEADS, NEW_ROLE_DAYS, OLD_FUNDING_DAYS, OLD_ROLE_DAYS, RECENT_FUNDING_DAYS,
                                   STALE_AFTER_DAYS, US, Batch, ClientPlan, RunContext, channel_removal_effects,
                                   generate_batch, plan_clients)

TRUTH_FORMAT_VERSION = 1
COUNT_KEYS = ("leads", "untouched", "outbound_touches", "activities", "events", "conversions", "failures",
              "failed_bounced", "failed_unsubscribed", "failed_not_interested", "failed_dead",
              "in_flight", "stale", "sequence_unfinished")

WRITERS = 2  # COPY connections; the server's per-row work is the bottleneck on small machines

Progress = Callable[[str, int, int], None]


class SynthError(RuntimeError):
    """The world cannot be written (bad arguments, or its clients already exist)."""


@dataclass
class SynthSummary:
    clients: int
    campaigns: int
    leads: int
    activities: int
    outbound_touches: int
    conversions: int
    failures: int
    in_flight: int
    stale: int
    untouched: int
    seconds: float


def generate(url: str, *, clients: int, leads: int, seed: int, null_world: bool = False,
             truth_path: Path | None = None, as_of: datetime | None = None,
             progress: Progress | None = None, als_signal: str = "correlated",
             peak_touch_template: str | None = None) -> SynthSummary:
    """Write a synthetic platform history into the source tables at ``url``.

    Deterministic: the same (clients, leads, seed, null_world, as_of) gives identical rows. It never
    truncates; if any client this seed would create already exists it refuses (SynthError). On
    failure the clients it created are deleted again (with their leads and activities).
    ``as_of`` (timezone-aware) is the world's "now": nothing is dated after it. Default: today 00:00 UTC.
    ``als_signal``: "correlated" (default) draws the ALS components from a shared latent lead quality;
    "independent" draws them independently, with true weights far from the defaults and a strong scale
    (from a separate random stream, so nothing else in the world changes).
    ``peak_touch_template`` (a subject template name, default None): that template is used only on
    touch PEAK_TOUCH (3, the highest baseline hazard; several times likelier there) and planted with no
    effect — a position-confounded phrase for the WHAT detector's tests. Nothing else changes.
    """
    started = time.monotonic()
    if clients < 1:
        raise SynthError("clients must be at least 1")
    if leads < clients:
        raise SynthError(f"leads ({leads}) must be at least the number of clients ({clients})")
    if seed < 0:
        raise SynthError("seed must be a non-negative integer")
    if als_signal not in ALS_SIGNALS:
        raise SynthError(f"als_signal must be one of {', '.join(ALS_SIGNALS)} (got {als_signal!r})")
    if peak_touch_template is not None and peak_touch_template not in load_vocabulary().subject_templates:
        raise SynthError(f"peak_touch_template must be a subject template of the seeds (got {peak_touch_template!r})")
    if as_of is None:
        as_of = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    elif as_of.tzinfo is None or as_of.utcoffset() is None:
        raise SynthError("as_of must be timezone-aware (e.g. 2025-06-30T00:00:00+00:00)")
    as_of = as_of.astimezone(timezone.utc)
    report = progress or (lambda stage, done, total: None)

    as_of_us = int(as_of.replace(microsecond=0).timestamp()) * US + as_of.microsecond
    as_of_s = as_of_us // US
    vocab = load_vocabulary()
    ctx = RunContext(
        seed=seed, as_of_us=as_of_us, null_world=null_world, vocab=vocab, tables=ContentTables(vocab),
        clock=ZoneClock([z for z, _, _ in catalog.LEAD_ZONES], as_of_s - 440 * DAY, as_of_s + 30 * DAY),
        baseline=baseline_logit(null_world), als_signal=als_signal, peak_touch_template=peak_touch_template,
    )
    plans = plan_clients(ctx, clients, leads)
    report("clients", 0, clients)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        _refuse_existing(cur, plans)
        _write_clients(cur, plans)
    report("clients", clients, clients)
    try:
        per_client, by_touch, signal_sums = _write_leads(url, ctx, plans, leads, report)
    except BaseException:
        # Writers commit per batch: remove the partial world (leads and activities cascade) so that
        # the same command can simply be run again.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from clients where id = any(%s::uuid[])", (_client_ids(plans),))
        raise
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze clients, campaigns, leads, activities")

    totals: Counter[str] = Counter()
    for counts in per_client:
        totals.update(counts)
    if truth_path is not None:
        _write_truth(Path(truth_path), ctx, as_of, clients, leads, plans, per_client, by_touch, totals, signal_sums)
    return SynthSummary(
        clients=clients, campaigns=sum(len(p.campaigns) for p in plans), leads=totals["leads"],
        activities=totals["activities"], outbound_touches=totals["outbound_touches"],
        conversions=totals["conversions"], failures=totals["failures"], in_flight=totals["in_flight"],
        stale=totals["stale"], untouched=totals["untouched"], seconds=round(time.monotonic() - started, 2),
    )


def _write_leads(url: str, ctx: RunContext, plans: list[ClientPlan], leads: int,
                 report: Progress) -> tuple[list[Counter[str]], list[np.ndarray], list[np.ndarray]]:
    """Generate batches in this thread and COPY them from WRITERS threads, each on its own connection
    and committing per batch: generation (Python) overlaps with the server's work, which dominates
    (foreign keys, indexes and the statement triggers of migration 002). Memory stays bounded by the
    queue. Batches are generated strictly in order, so the rows do not depend on thread timing."""
    per_client: list[Counter[str]] = [Counter() for _ in plans]
    by_touch = [np.zeros(MAX_TOUCHES, dtype=np.int64) for _ in plans]
    signal_sums = [np.zeros((len(TIMING_SIGNALS), 2, 2)) for _ in plans]
    pending: queue.Queue[tuple[int, Batch] | None] = queue.Queue(maxsize=WRITERS)
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = [0]

    def writer() -> None:
        try:
            conn: psycopg.Connection | None = psycopg.connect(url)
        except BaseException as exc:  # noqa: BLE001 - handed to the generating thread
            errors.append(exc)
            conn = None
        while (item := pending.get()) is not None:
            if conn is None or errors:
                continue  # keep draining so the producer never blocks
            client, batch = item
            try:
                with conn.transaction(), conn.cursor() as cur:
                    copy_payload(cur, batch.leads)  # before activities: foreign key
                    copy_payload(cur, batch.activities)
                with lock:
                    per_client[client].update(batch.counts)
                    by_touch[client] += batch.conversions_by_touch
                    signal_sums[client] += batch.signal_sums
                    done[0] += batch.counts["leads"]
                    report("leads", done[0], leads)
            except BaseException as exc:  # noqa: BLE001 - handed to the generating thread
                errors.append(exc)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=writer, name=f"synth-writer-{i}", daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    report("leads", 0, leads)
    try:
        for plan in plans:
            for batch, start in enumerate(range(0, plan.n_leads, BATCH_LEADS)):
                if errors:
                    break
                pending.put((plan.index, generate_batch(ctx, plan, batch, min(BATCH_LEADS, plan.n_leads - start))))
    finally:
        for _ in threads:
            pending.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return per_client, by_touch, signal_sums


def _client_ids(plans: list[ClientPlan]) -> list[str]:
    return fmt_uuid(np.stack([p.id for p in plans]))


def _refuse_existing(cur: psycopg.Cursor, plans: list[ClientPlan]) -> None:
    ids = _client_ids(plans)
    cur.execute("select id::text from clients where id = any(%s::uuid[]) order by id", (ids,))
    existing = [row[0] for row in cur.fetchall()]
    if existing:
        raise SynthError(
            f"the database already holds {len(existing)} of the {len(ids)} clients this seed creates "
            f"(e.g. {existing[0]}): a world is written once per database and seed; use a fresh database "
            "or another seed")


def _write_clients(cur: psycopg.Cursor, plans: list[ClientPlan]) -> None:
    created = np.array([p.created_us for p in plans], dtype=np.int64)
    copy_payload(cur, encode_rows("clients", {
        "id": _client_ids(plans),
        "name": fmt_text([p.name for p in plans]),
        "timezone": [p.timezone for p in plans],
        "subscription_status": [p.subscription_status for p in plans],
        "is_paused": fmt_bool(np.zeros(len(plans), dtype=bool)),
        "created_at": fmt_timestamp(created),
        "updated_at": fmt_timestamp(created),
    }))
    campaigns = [(p, c) for p in plans for c in p.campaigns]
    copy_payload(cur, encode_rows("campaigns", {
        "id": fmt_uuid(np.stack([c.id for _, c in campaigns])),
        "client_id": fmt_uuid(np.stack([p.id for p, _ in campaigns])),
        "name": fmt_text([c.name for _, c in campaigns]),
        "created_at": fmt_timestamp(np.array([c.created_us for _, c in campaigns], dtype=np.int64)),
    }))


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _expected_lifts(sums: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Expected booking rate among leads with a final outcome, signal off and on, and their ratio (the
    WHO ``timing_signals`` lift the planted model implies; world._expected_signal_sums)."""
    lifts: dict[str, dict[str, float | None]] = {}
    for name, ((booked_off, final_off), (booked_on, final_on)) in zip(TIMING_SIGNALS, sums):
        rate_off = booked_off / final_off if final_off > 0 else None
        rate_on = booked_on / final_on if final_on > 0 else None
        lift = rate_on / rate_off if rate_on is not None and rate_off else None
        lifts[f"{name}_lift"] = {"rate_without": _round(rate_off), "rate_with": _round(rate_on), "lift": _round(lift)}
    return lifts


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _write_truth(path: Path, ctx: RunContext, as_of: datetime, clients: int, leads: int, plans: list[ClientPlan],
                 per_client: list[Counter[str]], by_touch: list[np.ndarray], totals: Counter[str],
                 signal_sums: list[np.ndarray]) -> None:
    baseline = ctx.baseline
    truth: dict[str, Any] = {
        "format_version": TRUTH_FORMAT_VERSION,
        "generator": "convintel.synth",
        "seed": ctx.seed,
        "as_of": _iso(as_of),
        "null_world": ctx.null_world,
        "parameters": {
            "clients": clients, "leads": leads, "batch_leads": BATCH_LEADS,
            "leads_per_client": [p.n_leads for p in plans], "stale_after_days": STALE_AFTER_DAYS,
            "max_touches": MAX_TOUCHES, "als_signal": ctx.als_signal,
            **({"peak_touch_template": ctx.peak_touch_template} if ctx.peak_touch_template else {}),
        },
        "definitions": {
            "local_time": "lead timezone, else client timezone; day 0 = Monday",
            "new_role_days_before_first_touch": list(NEW_ROLE_DAYS),
            "old_role_days_before_first_touch": list(OLD_ROLE_DAYS),
            "funded_days_before_first_touch": list(RECENT_FUNDING_DAYS),
            "old_funding_days_before_first_touch": list(OLD_FUNDING_DAYS),
            "size_buckets": {label: [lo, hi] for label, lo, hi in SIZE_BUCKETS},
            "length_bins": {ch: {"unit": LENGTH_UNIT[ch], "bins": {label: [lo, hi] for label, lo, hi in bins}}
                            for ch, bins in LENGTH_BINS.items()},
            "effective_threshold": EFFECTIVE_THRESHOLD,
            "neutral_bound": NEUTRAL_BOUND,
            "stale": "open lead whose last outbound touch (never touched: created_at) <= as_of - stale_after_days",
            "in_flight": "open lead that is not stale (includes untouched leads and sequences still running)",
        },
        "hazard": {
            "link": "logit",
            "formula": "logit P(book at touch k | reached k) = baseline[k] + intercept + lead effects + touch effects",
            "baseline_logit_by_touch": {str(k + 1): round(float(v), 6) for k, v in enumerate(baseline)},
            "baseline_probability_by_touch": {
                str(k + 1): (NULL_PROBABILITY if ctx.null_world else BASELINE_PROBABILITY[k]) for k in range(MAX_TOUCHES)},
        },
        "clients": [
            {
                "client_id": fmt_uuid(p.id[None, :])[0],
                "name": p.name,
                "timezone": p.timezone,
                "campaigns": [{"campaign_id": fmt_uuid(c.id[None, :])[0], "name": c.name, "share": round(c.share, 4),
                               "max_touches": c.max_touches, "base_gap_days": c.gaps.tolist()} for c in p.campaigns],
                "planted": {**effects_to_json(p.effects, ctx.vocab),
                            "channel_removal_effect": channel_removal_effects(p, ctx.baseline)},
                "counts": {key: per_client[p.index][key] for key in COUNT_KEYS},
                "conversions_by_touch": {str(k + 1): int(v) for k, v in enumerate(by_touch[p.index])},
                "expected_lead_level": {"timing_signal_lifts": _expected_lifts(signal_sums[p.index])},
            }
            for p in plans
        ],
        "totals": {key: totals[key] for key in COUNT_KEYS},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(truth, indent=2) + "\n")
    tmp.replace(path)
