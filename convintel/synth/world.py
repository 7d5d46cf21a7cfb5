"""The synthetic platform history, generated per client in vectorised batches of leads.

A batch draws lead attributes, plans every lead's sequence (up to MAX_TOUCHES touches: channel, local
send day and hour, content), evaluates the planted hazard for every planned touch at once, and cuts
each sequence at its first outcome (booking or failure) or at ``as_of``. Only then are the sent
touches rendered to text and formatted for COPY. Random streams are keyed by (seed, client, batch), so
a batch's rows depend only on the run's parameters, never on what else ran before it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from convintel.synth import catalog
from convintel.synth.clock import DAY, HOUR, ZoneClock, day_of_week, hour_of_day
from convintel.synth.content import (ANGLE_COUNT_P, ClientStyle, ContentPlan, ContentTables, draw_style, plan_content,
                                     render, snapshot_json)
from convintel.synth.load import (NULL, CopyPayload, encode_rows, fmt_bool, fmt_date, fmt_int, fmt_text,
                                  fmt_timestamp, fmt_uuid, repeat, uuid_bytes)
from convintel.synth.model import (ALS_CENTER, ALS_COMPONENTS, ALS_QUALITY_BETA, ALS_QUALITY_SPREAD, ALS_RISK_MAX,
                                   CHANNELS, DEFAULT_ALS_WEIGHTS, EMAIL, LENGTH_BINS, LINKEDIN, MAIL, MAX_TOUCHES,
                                   OUTBOUND_ACTIONS, RISK_CENTER, SIZE_BUCKETS, SMS, VOICE, ClientEffects, EffectUsage,
                                   als_score, als_tier, calibrated_intercept, categorical_rows, draw_client_effects,
                                   lead_logit, sigmoid, touch_logit)
from convintel.synth.vocab import Vocabulary

STREAM_WORLD, STREAM_CLIENT, STREAM_BATCH, STREAM_ALS = 0, 1, 2, 3
BATCH_LEADS = 10_000
STALE_AFTER_DAYS = 30
US = 1_000_000

# Sequencing habits of the platform.
BUSINESS_SHARE = 0.85                      # sends inside local business hours (08-17)
OFF_HOURS = (6, 7, 18, 19, 20, 21, 22)     # never 00-05: no DST-ambiguous wall-clock times
WEEKEND_SKIP = 0.85                        # a send falling on a weekend moves to Monday this often
DEFAULT_GAPS = (2, 3, 4, 5, 7, 7, 9, 10, 14)  # days between touch k and k+1
PLANNED_SHORTENING_P = [0.6, 0.25, 0.15]   # a sequence is planned 0, 1 or 2 touches short of its campaign's
FIRST_CHANNEL_SHARE = np.array([0.45, 0.30, 0.08, 0.10, 0.07])
CHANNEL_TRANSITIONS = np.array([            # from row channel to column channel
    [0.35, 0.30, 0.12, 0.15, 0.08],
    [0.50, 0.15, 0.12, 0.15, 0.08],
    [0.50, 0.25, 0.05, 0.15, 0.05],
    [0.50, 0.25, 0.15, 0.05, 0.05],
    [0.55, 0.25, 0.08, 0.10, 0.02],
])
SIZE_BUCKET_SHARE = np.array([0.10, 0.14, 0.15, 0.14, 0.17, 0.18, 0.12])
CAMPAIGN_THEMES = ("Founders outreach", "Revenue leaders", "Marketing leaders", "Mid-market push",
                   "Enterprise pilot", "Re-engagement", "Event follow-up", "New region launch")

# Lead attribute rates.
OWN_ZONE_SHARE = 0.55       # leads in the client's own zone
NULL_TIMEZONE_SHARE = 0.07  # timezone unknown: scheduled and analysed in the client's zone
NULL_SENIORITY_SHARE = 0.04
NULL_EMPLOYEES_SHARE = 0.02
HIRING_SHARE, NULL_HIRING_SHARE = 0.35, 0.03
NEW_ROLE_SHARE, NULL_EMPLOYMENT_SHARE = 0.20, 0.04
RECENT_FUNDING_SHARE, OLD_FUNDING_SHARE = 0.15, 0.20
# Signal windows (days before the first touch), with a gap around the SPEC thresholds (6 and 12
# months) so that no lead sits on a boundary a detector could read either way.
NEW_ROLE_DAYS, OLD_ROLE_DAYS = (5, 170), (200, 3650)
RECENT_FUNDING_DAYS, OLD_FUNDING_DAYS = (10, 350), (380, 2000)
IDEAL_LEAD_SHARE = 0.01     # perfect ALS components (the only way to reach the 'hot' tier)
FAILURE_SCORE_PENALTY = 15  # today's ALS score of bounced/unsubscribed leads (not the snapshot)
PHONE_SHARE, LINKEDIN_SHARE = 0.80, 0.88

# Failures: type shares per channel of the failing touch (bounced, unsubscribed, not_interested, dead).
FAILURE_TYPES = ("bounced", "unsubscribed", "not_interested", "dead")
FAILURE_TYPE_SHARE = np.array([
    [0.35, 0.25, 0.30, 0.10],   # email
    [0.10, 0.00, 0.65, 0.25],   # linkedin
    [0.25, 0.45, 0.25, 0.05],   # sms
    [0.30, 0.05, 0.50, 0.15],   # voice
    [0.50, 0.05, 0.15, 0.30],   # mail
])
# The event activity a failure leaves, by (type, channel), and its delay after the touch (seconds).
FAILURE_ACTIONS = {
    "bounced": ("email_bounced", "bounced", "sms_failed", "voice_failed", "mail_returned"),
    "unsubscribed": ("unsubscribed",) * 5,
    "not_interested": ("not_interested",) * 5,
    "dead": ("email_replied", "linkedin_replied", "sms_replied", "voice_answered", "mail_returned"),
}
FAILURE_DELAY_S = {"bounced": (60, 1800), "unsubscribed": (600, 172_800),
                   "not_interested": (1800, 259_200), "dead": (3600, 432_000)}
BOOKING_DELAY_S = (HOUR, 4 * DAY)          # log-uniform, and before the next touch would go out
EVENT_WINDOW_LAST_S = 7 * DAY              # engagement window after a sequence's last touch
POSITIVE_REPLY_ACTIONS = ("email_replied", "linkedin_replied", "sms_replied", "voice_answered", None)


@dataclass
class CampaignPlan:
    id: np.ndarray           # 16 UUID bytes
    name: str
    created_us: int
    start_day: int           # first day leads of this campaign are touched (days since epoch)
    share: float
    max_touches: int
    gaps: np.ndarray         # (MAX_TOUCHES - 1,) base days between consecutive touches
    transitions: np.ndarray  # (5, 5) channel transition probabilities
    sender: str


@dataclass
class ClientPlan:
    index: int
    id: np.ndarray
    name: str
    timezone: str
    subscription_status: str
    created_us: int
    n_leads: int
    campaigns: list[CampaignPlan]
    first_channel_share: np.ndarray
    hour_weights: np.ndarray  # over BUSINESS hours 8..17
    industry_share: np.ndarray
    style: ClientStyle
    effects: ClientEffects
    used_emails: set[str] = field(default_factory=set)


@dataclass
class RunContext:
    seed: int
    as_of_us: int
    null_world: bool
    vocab: Vocabulary
    tables: ContentTables
    clock: ZoneClock
    baseline: np.ndarray
    als_signal: str = "correlated"   # model.ALS_SIGNALS; "independent" draws from STREAM_ALS
    peak_touch_template: str | None = None   # generate(peak_touch_template=...): only at PEAK_TOUCH, no effect

    @property
    def as_of_s(self) -> int:
        return self.as_of_us // US


@dataclass
class Batch:
    leads: CopyPayload
    activities: CopyPayload
    counts: Counter[str]
    conversions_by_touch: np.ndarray
    # (signal, value off/on, expected booked/final) sums over the batch's touched leads: see _expected_signal_sums.
    signal_sums: np.ndarray


def rng_for(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def split_leads(seed: int, clients: int, leads: int) -> list[int]:
    """Leads per client: uneven but deterministic, each client at least a third of the average."""
    floor = max(1, leads // (3 * clients))
    rng = rng_for(seed, STREAM_WORLD, 0)
    weights = rng.lognormal(0.0, 0.6, clients)
    extra = rng.multinomial(leads - floor * clients, weights / weights.sum())
    return [floor + int(e) for e in extra]


def plan_clients(ctx: RunContext, clients: int, leads: int) -> list[ClientPlan]:
    per_client = split_leads(ctx.seed, clients, leads)
    zones = rng_for(ctx.seed, STREAM_WORLD, 1).permutation(len(catalog.CLIENT_ZONES))
    as_of_day = ctx.as_of_s // DAY
    plans = []
    for c in range(clients):
        rng = rng_for(ctx.seed, STREAM_CLIENT, c)
        n_stems, n_suffixes = len(catalog.AGENCY_STEMS), len(catalog.AGENCY_SUFFIXES)
        name = f"{catalog.AGENCY_STEMS[c % n_stems]} {catalog.AGENCY_SUFFIXES[(c // n_stems) % n_suffixes]}"
        if c >= n_stems * n_suffixes:
            name += f" {c // (n_stems * n_suffixes) + 1}"
        client_id = uuid_bytes(rng, 1)[0]
        history_days = int(rng.integers(200, 421))
        start_day = as_of_day - history_days
        created_us = (start_day - int(rng.integers(20, 60))) * DAY * US + int(rng.integers(0, DAY * US))
        n_campaigns = int(rng.integers(1, 4))
        shares = rng.dirichlet(np.full(n_campaigns, 3.0))
        campaigns = []
        for j in range(n_campaigns):
            c_start = start_day + (0 if j == 0 else int(rng.integers(0, history_days // 2)))
            campaigns.append(CampaignPlan(
                id=uuid_bytes(rng, 1)[0],
                name=f"{CAMPAIGN_THEMES[int(rng.integers(0, len(CAMPAIGN_THEMES)))]} #{j + 1}",
                created_us=(c_start - int(rng.integers(1, 10))) * DAY * US + int(rng.integers(0, DAY * US)),
                start_day=c_start,
                share=float(shares[j]),
                max_touches=int(rng.choice([6, 8, 10], p=[0.3, 0.4, 0.3])),
                gaps=np.maximum(1, np.rint(np.array(DEFAULT_GAPS) * rng.uniform(0.7, 1.4))).astype(np.int64),
                transitions=np.stack([rng.dirichlet(row * 30) for row in CHANNEL_TRANSITIONS]),
                sender=catalog.SENDER_NAMES[int(rng.integers(0, len(catalog.SENDER_NAMES)))],
            ))
        first_share = rng.dirichlet(FIRST_CHANNEL_SHARE * 40)
        if first_share.max() < 0.20:  # the planted best first channel needs a real share of leads
            first_share[EMAIL] += 0.20
            first_share /= first_share.sum()
        hour_weights = rng.dirichlet(np.full(10, 3.0))
        industry_share = rng.dirichlet(np.array([s for _, s in catalog.INDUSTRIES]) * 60)
        style = draw_style(rng, ctx.vocab)
        als_rng = rng_for(ctx.seed, STREAM_ALS, c) if ctx.als_signal == "independent" else None
        effects = draw_client_effects(rng, ctx.vocab, null_world=ctx.null_world, first_channel_share=first_share,
                                      als_rng=als_rng)
        if ctx.peak_touch_template is not None:
            effects.subject_template[ctx.vocab.subject_templates.index(ctx.peak_touch_template)] = 0.0
        effects.intercept = calibrated_intercept(
            effects, _usage(ctx.vocab, campaigns, first_share, hour_weights, industry_share, style), effects.intercept)
        plans.append(ClientPlan(
            index=c, id=client_id, name=name,
            timezone=catalog.CLIENT_ZONES[zones[c % len(zones)]],
            subscription_status=catalog.SUBSCRIPTION_STATUSES[int(rng.integers(0, len(catalog.SUBSCRIPTION_STATUSES)))],
            created_us=created_us, n_leads=per_client[c], campaigns=campaigns, first_channel_share=first_share,
            hour_weights=hour_weights, industry_share=industry_share, style=style, effects=effects,
        ))
    return plans


def _reachable(share: np.ndarray) -> np.ndarray:
    """Channel shares after unreachable SMS/voice (no phone) and LinkedIn (no profile) fall back to email."""
    out = share.copy()
    for ch, reach in ((SMS, PHONE_SHARE), (VOICE, PHONE_SHARE), (LINKEDIN, LINKEDIN_SHARE)):
        out[EMAIL] += out[ch] * (1 - reach)
        out[ch] *= reach
    return out


def _usage(vocab: Vocabulary, campaigns: list[CampaignPlan], first_share: np.ndarray, hour_weights: np.ndarray,
           industry_share: np.ndarray, style: ClientStyle) -> EffectUsage:
    """Expected category shares of one client's touches and leads (approximate: for calibration)."""
    first = _reachable(first_share)
    transitions = sum(c.share * c.transitions for c in campaigns)
    mix, current = first.copy(), first
    for _ in range(MAX_TOUCHES - 1):
        current = _reachable(current @ transitions)
        mix += current
    day = np.full(7, 1 / 7)
    day[0] += 2 / 7 * WEEKEND_SKIP
    day[5:] *= 1 - WEEKEND_SKIP
    hour = np.zeros(24)
    hour[8:18] = BUSINESS_SHARE * hour_weights
    hour[list(OFF_HOURS)] = (1 - BUSINESS_SHARE) / len(OFF_HOURS)
    mix /= mix.sum()
    angles_per_touch = (ANGLE_COUNT_P["long"] @ np.arange(4)) * (1 - mix[SMS]) + (ANGLE_COUNT_P["short"] @ np.arange(4)) * mix[SMS]
    return EffectUsage(
        title=np.array([g.share for g in catalog.TITLE_GROUPS]),
        industry=industry_share,
        size_bucket=SIZE_BUCKET_SHARE,
        timing=np.array([NEW_ROLE_SHARE * (1 - NULL_EMPLOYMENT_SHARE), HIRING_SHARE * (1 - NULL_HIRING_SHARE),
                         RECENT_FUNDING_SHARE]),
        first_channel=first,
        channel=mix,
        day=day,
        hour=hour,
        subject_template=style.template_weights,
        pain_point=np.full(len(vocab.pain_points), 1 / len(vocab.pain_points)),
        cta=style.cta_weights,
        angle=np.full(len(vocab.angles), angles_per_touch / len(vocab.angles)),
        length_bin={ch: np.full(len(bins), 1 / len(bins)) for ch, bins in LENGTH_BINS.items()},
        personalization=style.personalization_rates,
    )


def channel_removal_effects(client: ClientPlan, baseline: np.ndarray) -> dict[str, float]:
    """The truth of Markov attribution: per observed channel, 1 − P(book | every touch on it ends the
    sequence unbooked) / P(book), computed exactly (no simulation) by propagating the probability mass
    of (underlying channel, observed first channel) through each campaign's planned touches, for each
    reachability type (phone, LinkedIn profile) and planned length. The hazard uses the planted
    channel and first-channel effects, the baseline, the calibrated intercept and the failure hazard;
    the other lead and touch effects enter at their mean (the intercept is calibrated for that), and
    the as_of cut is ignored. Draws nothing: the world's random streams are untouched."""
    fx = client.effects
    n = len(CHANNELS)
    totals = np.zeros(n + 1)  # P(book) with nothing removed (index n) and with each channel removed
    for campaign in client.campaigns:
        for has_phone, phone_p in ((True, PHONE_SHARE), (False, 1 - PHONE_SHARE)):
            for has_linkedin, linkedin_p in ((True, LINKEDIN_SHARE), (False, 1 - LINKEDIN_SHARE)):
                observed = np.arange(n)
                if not has_phone:
                    observed[[SMS, VOICE]] = EMAIL
                if not has_linkedin:
                    observed[LINKEDIN] = EMAIL
                for shortening, length_p in enumerate(PLANNED_SHORTENING_P):
                    length = max(3, campaign.max_touches - shortening)
                    weight = campaign.share * phone_p * linkedin_p * length_p
                    for removed in range(n + 1):
                        # mass[o, f]: underlying channel o of the current touch, observed first channel f
                        mass = np.zeros((n, n))
                        mass[np.arange(n), observed] = client.first_channel_share
                        booked = 0.0
                        for k in range(length):
                            if removed < n:
                                mass[observed == removed, :] = 0.0
                            hazard = sigmoid(baseline[k] + fx.intercept + fx.channel[observed][:, None]
                                             + fx.first_channel[None, :])
                            booked += float((mass * hazard).sum())
                            mass = campaign.transitions.T @ (mass * (1 - hazard) * (1 - fx.failure_hazard))
                        totals[removed] += weight * booked
    effect = 1.0 - totals[:n] / totals[n]
    return {name: round(float(value), 4) for name, value in zip(CHANNELS, effect)}


def _uniform_int(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> np.ndarray:
    return rng.integers(bounds[0], bounds[1] + 1, n)


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


_ZONES = tuple(z for z, _, _ in catalog.LEAD_ZONES)
_ZONE_SHARE = np.array([s for _, _, s in catalog.LEAD_ZONES]) / sum(s for _, _, s in catalog.LEAD_ZONES)
_TITLE_SHARE = np.array([g.share for g in catalog.TITLE_GROUPS]) / sum(g.share for g in catalog.TITLE_GROUPS)
_INDUSTRY_NAMES = np.array([name for name, _ in catalog.INDUSTRIES], dtype=object)
_COMPANIES = np.array([f"{stem} {suffix}" for stem in catalog.COMPANY_STEMS for suffix in catalog.COMPANY_SUFFIXES],
                      dtype=object)
_COMPANY_SLUGS = [_slug(c) for c in _COMPANIES]
_FIRST_SLUGS = [_slug(n) for n in catalog.FIRST_NAMES]
_LAST_SLUGS = [_slug(n) for n in catalog.LAST_NAMES]
_TLD = {"United States": "com", "United Kingdom": "co.uk", "Germany": "de", "France": "fr",
        "Australia": "com.au", "Singapore": "sg", "Japan": "jp"}
_DIAL = {"United States": "+1", "United Kingdom": "+44", "Germany": "+49", "France": "+33",
         "Australia": "+61", "Singapore": "+65", "Japan": "+81"}
_NEVER = np.iinfo(np.int64).max // 2


def _sizes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words of each string."""
    return (np.array([len(v) for v in values], dtype=np.int64), np.array([len(v.split()) for v in values], dtype=np.int64))


_COMPANY_CHARS, _COMPANY_WORDS = _sizes(_COMPANIES)
_INDUSTRY_CHARS, _INDUSTRY_WORDS = _sizes(_INDUSTRY_NAMES)
_FIRST_CHARS = np.array([len(n) for n in catalog.FIRST_NAMES], dtype=np.int64)


@dataclass
class _Leads:
    """Attributes of a batch of leads (arrays of length n)."""

    ids: np.ndarray
    campaign: np.ndarray
    zone: np.ndarray            # index into _ZONES: where the lead is scheduled and analysed
    tz_null: np.ndarray         # the timezone column is NULL (zone = the client's)
    first: np.ndarray
    last: np.ndarray
    company: np.ndarray         # index into _COMPANIES
    email_style: np.ndarray
    title_group: np.ndarray
    title_u: np.ndarray
    title_mess: np.ndarray      # 0 as is, 1 lower, 2 upper, 3 padded with spaces
    seniority_null: np.ndarray
    industry: np.ndarray
    size_bucket: np.ndarray
    size_u: np.ndarray
    employees_null: np.ndarray
    hiring: np.ndarray
    hiring_null: np.ndarray
    new_role: np.ndarray
    role_days: np.ndarray
    employment_null: np.ndarray
    funded: np.ndarray
    has_funding: np.ndarray
    funding_days: np.ndarray
    components: np.ndarray      # (n, 4) ALS points
    risk: np.ndarray
    has_phone: np.ndarray
    has_linkedin: np.ndarray
    phone_digits: np.ndarray
    created_days: np.ndarray
    scored_after_s: np.ndarray


def _draw_leads(rng: np.random.Generator, client: ClientPlan, n: int,
                als_rng: np.random.Generator | None = None) -> _Leads:
    """``als_rng`` (the "independent" ALS signal): redraw the components from it, each with its own
    latent quality; ``rng`` is consumed exactly as without it."""
    own = rng.random(n) < OWN_ZONE_SHARE
    tz_null = rng.random(n) < NULL_TIMEZONE_SHARE
    other_zone = rng.choice(len(_ZONES), n, p=_ZONE_SHARE)
    new_role = rng.random(n) < NEW_ROLE_SHARE
    funding_u = rng.random(n)
    funded = funding_u < RECENT_FUNDING_SHARE
    maxima = np.array([m for _, m in ALS_COMPONENTS])
    # A latent lead quality spreads scores over the tiers (and correlates the components, as in
    # life); its mean keeps each component centred on model.ALS_CENTER.
    quality = rng.beta(ALS_QUALITY_BETA, ALS_QUALITY_BETA, n)
    components = rng.binomial(maxima, np.clip(ALS_CENTER + ALS_QUALITY_SPREAD * (quality[:, None] - 0.5), 0.02, 0.98))
    risk = rng.binomial(ALS_RISK_MAX, RISK_CENTER, n)
    if als_rng is not None:
        own_quality = als_rng.beta(ALS_QUALITY_BETA, ALS_QUALITY_BETA, (n, len(maxima)))
        own_p = np.clip(ALS_CENTER + ALS_QUALITY_SPREAD * (own_quality - 0.5), 0.02, 0.98)
        components = als_rng.binomial(maxima, own_p)
    ideal = rng.random(n) < IDEAL_LEAD_SHARE
    components[ideal] = maxima
    risk[ideal] = 0
    return _Leads(
        ids=uuid_bytes(rng, n),
        campaign=rng.choice(len(client.campaigns), n, p=[c.share for c in client.campaigns]),
        zone=np.where(own | tz_null, _ZONES.index(client.timezone), other_zone),
        tz_null=tz_null,
        first=rng.integers(0, len(catalog.FIRST_NAMES), n),
        last=rng.integers(0, len(catalog.LAST_NAMES), n),
        company=rng.integers(0, len(_COMPANIES), n),
        email_style=rng.choice(4, n, p=[0.6, 0.2, 0.1, 0.1]),
        title_group=rng.choice(len(catalog.TITLE_GROUPS), n, p=_TITLE_SHARE),
        title_u=rng.random(n),
        title_mess=rng.choice(4, n, p=[0.90, 0.05, 0.02, 0.03]),
        seniority_null=rng.random(n) < NULL_SENIORITY_SHARE,
        industry=rng.choice(len(catalog.INDUSTRIES), n, p=client.industry_share),
        size_bucket=rng.choice(len(SIZE_BUCKETS), n, p=SIZE_BUCKET_SHARE),
        size_u=rng.random(n),
        employees_null=rng.random(n) < NULL_EMPLOYEES_SHARE,
        hiring=rng.random(n) < HIRING_SHARE,
        hiring_null=rng.random(n) < NULL_HIRING_SHARE,
        new_role=new_role,
        role_days=np.where(new_role, _uniform_int(rng, NEW_ROLE_DAYS, n), _uniform_int(rng, OLD_ROLE_DAYS, n)),
        employment_null=rng.random(n) < NULL_EMPLOYMENT_SHARE,
        funded=funded,
        has_funding=funding_u < RECENT_FUNDING_SHARE + OLD_FUNDING_SHARE,
        funding_days=np.where(funded, _uniform_int(rng, RECENT_FUNDING_DAYS, n), _uniform_int(rng, OLD_FUNDING_DAYS, n)),
        components=components,
        risk=risk,
        has_phone=rng.random(n) < PHONE_SHARE,
        has_linkedin=rng.random(n) < LINKEDIN_SHARE,
        phone_digits=rng.integers(0, 10_000_000, n),
        created_days=rng.uniform(1.0, 10.0, n),
        scored_after_s=rng.integers(600, 12 * HOUR, n),
    )


@dataclass
class _Schedule:
    """Every lead's planned sequence, (n, MAX_TOUCHES) arrays."""

    planned: np.ndarray   # (n,) planned number of touches
    t_us: np.ndarray      # send instant, microseconds since the epoch (UTC)
    local_s: np.ndarray   # wall-clock reading in the lead's zone
    channel: np.ndarray
    next_us: np.ndarray   # the next planned send (_NEVER after the last)


def _schedule(rng: np.random.Generator, ctx: RunContext, client: ClientPlan, leads: _Leads) -> _Schedule:
    n = len(leads.ids)
    campaign = leads.campaign
    camp_start = np.array([c.start_day for c in client.campaigns])[campaign]
    # First sends spread from the campaign start to a week after as_of (those leads stay untouched).
    start_day = camp_start + (rng.random(n) * (ctx.as_of_s // DAY + 8 - camp_start)).astype(np.int64)
    max_touches = np.array([c.max_touches for c in client.campaigns])[campaign]
    planned = np.maximum(3, max_touches - rng.choice(3, n, p=PLANNED_SHORTENING_P))
    gaps = np.stack([c.gaps for c in client.campaigns])[campaign] + rng.integers(-1, 3, (n, MAX_TOUCHES - 1))
    weekend_skip = rng.random((n, MAX_TOUCHES)) < WEEKEND_SKIP
    business = rng.random((n, MAX_TOUCHES)) < BUSINESS_SHARE
    business_hour = 8 + rng.choice(10, (n, MAX_TOUCHES), p=client.hour_weights)
    off_hour = np.array(OFF_HOURS)[rng.integers(0, len(OFF_HOURS), (n, MAX_TOUCHES))]
    second_of_hour = rng.integers(0, HOUR, (n, MAX_TOUCHES))
    micro = rng.integers(1, US, (n, MAX_TOUCHES))  # never a whole second: no ties with as_of cut-offs

    day = np.empty((n, MAX_TOUCHES), dtype=np.int64)
    current = start_day
    for k in range(MAX_TOUCHES):  # over touch positions, vectorised over leads
        if k:
            current = current + np.maximum(1, gaps[:, k - 1])
        dow = day_of_week(current * DAY)
        current = current + np.where(weekend_skip[:, k], np.where(dow == 5, 2, np.where(dow == 6, 1, 0)), 0)
        day[:, k] = current
    zone = np.broadcast_to(leads.zone[:, None], day.shape)
    utc_s = ctx.clock.to_utc(zone, day * DAY + np.where(business, business_hour, off_hour) * HOUR + second_of_hour)
    t_us = utc_s * US + micro

    channel = np.empty((n, MAX_TOUCHES), dtype=np.int64)
    channel[:, 0] = categorical_rows(rng, np.tile(client.first_channel_share, (n, 1)))
    transitions = np.stack([c.transitions for c in client.campaigns])
    for k in range(1, MAX_TOUCHES):
        channel[:, k] = categorical_rows(rng, transitions[campaign, channel[:, k - 1]])
    unreachable = ((~leads.has_phone[:, None] & ((channel == SMS) | (channel == VOICE)))
                   | (~leads.has_linkedin[:, None] & (channel == LINKEDIN)))
    channel[unreachable] = EMAIL

    next_us = np.full((n, MAX_TOUCHES), _NEVER, dtype=np.int64)
    has_next = np.arange(1, MAX_TOUCHES) < planned[:, None]
    next_us[:, :-1] = np.where(has_next, t_us[:, 1:], _NEVER)
    return _Schedule(planned=planned, t_us=t_us, local_s=ctx.clock.to_local(zone, utc_s), channel=channel,
                     next_us=next_us)


@dataclass
class _Outcomes:
    """Per planned touch (flattened, ``lead``/``k``) and per lead: what happened and when."""

    lead: np.ndarray          # per touch: lead index
    k: np.ndarray             # per touch: position, 0-based
    sent: np.ndarray          # per touch: sent (before as_of and not after the lead's outcome)
    outcome_at: np.ndarray    # per touch: the lead's booking or failure follows this touch
    event: np.ndarray         # per touch: 1 booked, 2 failed, 0 nothing (by as_of)
    outcome_us: np.ndarray    # per touch: when the booking or failure would happen
    failure_type: np.ndarray  # per touch: index into FAILURE_TYPES
    lead_outcome: np.ndarray  # per lead: 0 open, 1 converted, 2 failed
    lead_outcome_us: np.ndarray
    lead_failure: np.ndarray  # per lead: index into FAILURE_TYPES, -1
    signal_sums: np.ndarray   # _expected_signal_sums


def _draw_outcomes(rng: np.random.Generator, ctx: RunContext, client: ClientPlan, leads: _Leads,
                   schedule: _Schedule, lead: np.ndarray, k: np.ndarray, plan: ContentPlan) -> _Outcomes:
    """Hazard draws for every planned touch at once, then each sequence cut at its first outcome."""
    fx = client.effects
    n, touches = len(leads.ids), len(lead)
    ch, t = schedule.channel[lead, k], schedule.t_us[lead, k]
    timing = np.stack([leads.new_role & ~leads.employment_null, leads.hiring & ~leads.hiring_null, leads.funded],
                      axis=1).astype(float)
    lead_part = lead_logit(
        fx, title=leads.title_group, industry=leads.industry,
        size_bucket=np.where(leads.employees_null, -1, leads.size_bucket), timing=timing,
        als=leads.components.astype(float), risk=leads.risk.astype(float), first_channel=schedule.channel[:, 0])
    local = schedule.local_s[lead, k]
    touch_part = touch_logit(
        fx, ctx.baseline, touch_number=k + 1, channel=ch, day=day_of_week(local), hour=hour_of_day(local),
        template=plan.template, pain_point=plan.pain_point, cta=plan.cta, angles=plan.angles.astype(float),
        length_bin=plan.length_bin, personalization=plan.personalization.astype(float))
    p_book = sigmoid(lead_part[lead] + touch_part)
    books = rng.random(touches) < p_book
    fails = ~books & (rng.random(touches) < fx.failure_hazard)
    failure_type = categorical_rows(rng, FAILURE_TYPE_SHARE[ch])
    booking_delay = np.exp(rng.uniform(*np.log(BOOKING_DELAY_S), touches)) * US
    delay_bounds = np.array([FAILURE_DELAY_S[name] for name in FAILURE_TYPES])[failure_type]
    failure_delay = rng.uniform(delay_bounds[:, 0], delay_bounds[:, 1]) * US
    # An outcome comes before the next touch would have gone out; one not happened by as_of is not
    # in the data (the lead is in flight; its next touch would be later still).
    cap = 0.9 * (schedule.next_us[lead, k] - t)
    booked_us = t + np.minimum(booking_delay, cap).astype(np.int64)
    failed_us = t + np.minimum(failure_delay, cap).astype(np.int64)
    outcome_us = np.where(books, booked_us, failed_us)
    signal_sums = _expected_signal_sums(
        fx, lead_part, touch_part, timing, lead, k, n,
        booked_seen=booked_us < ctx.as_of_us, failed_seen=failed_us < ctx.as_of_us,
        stale_if_open=_last_planned_before(schedule, lead, k, n) <= ctx.as_of_us - STALE_AFTER_DAYS * DAY * US)
    event = np.where(books, 1, np.where(fails, 2, 0)) * (outcome_us < ctx.as_of_us)

    event_m = np.zeros((n, MAX_TOUCHES), dtype=np.int8)
    event_m[lead, k] = event
    has_event = (event_m > 0).any(axis=1)
    end_k = np.where(has_event, np.argmax(event_m > 0, axis=1), MAX_TOUCHES)
    sent = k <= end_k[lead]
    outcome_at = sent & (k == end_k[lead])
    at = np.flatnonzero(outcome_at)
    lead_outcome = np.zeros(n, dtype=np.int8)
    lead_outcome[lead[at]] = event[at]
    lead_outcome_us = np.zeros(n, dtype=np.int64)
    lead_outcome_us[lead[at]] = outcome_us[at]
    lead_failure = np.full(n, -1, dtype=np.int64)
    failed_at = at[event[at] == 2]
    lead_failure[lead[failed_at]] = failure_type[failed_at]
    return _Outcomes(lead=lead, k=k, sent=sent, outcome_at=outcome_at, event=event, outcome_us=outcome_us,
                     failure_type=failure_type, lead_outcome=lead_outcome, lead_outcome_us=lead_outcome_us,
                     lead_failure=lead_failure, signal_sums=signal_sums)


def _last_planned_before(schedule: _Schedule, lead: np.ndarray, k: np.ndarray, n: int) -> np.ndarray:
    """Each lead's last planned send before as_of (the planned touches are ``lead, k``); 0 when none."""
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, lead, schedule.t_us[lead, k])
    return last


def _expected_signal_sums(fx: ClientEffects, lead_part: np.ndarray, touch_part: np.ndarray, timing: np.ndarray,
                          lead: np.ndarray, k: np.ndarray, n: int, *, booked_seen: np.ndarray,
                          failed_seen: np.ndarray, stale_if_open: np.ndarray) -> np.ndarray:
    """What the planted model implies for the WHO timing-signal lifts, the quantity the detector reports.

    For each timing signal, every touched lead is evaluated twice — signal off and on, all else as drawn
    — over its planned touches before as_of with the competing hazards of the model (book with p_k, else
    fail with the client's failure hazard, else go on). A booking or failure counts only when it lands
    before as_of (with this touch's drawn delay); a lead with no outcome counts as final only when it is
    stale. Returns sums of P(booked) and P(final outcome) of shape (3 signals, off/on, booked/final);
    across a client, ``booked/final`` with the signal on over the same with it off is the expected
    lead-level lift among leads with a final outcome (signals are drawn independently of everything
    else, so standardising over all leads equals comparing leads with and without the signal)."""
    sums = np.zeros((len(fx.timing), 2, 2))
    touched = np.zeros(n, dtype=bool)
    touched[lead] = True
    f = fx.failure_hazard
    for signal in range(len(fx.timing)):
        for value in (0, 1):
            shifted = lead_part + (value - timing[:, signal]) * fx.timing[signal]
            p = np.zeros((n, MAX_TOUCHES))
            p[lead, k] = sigmoid(shifted[lead] + touch_part)
            present = np.zeros((n, MAX_TOUCHES))
            present[lead, k] = 1.0
            seen_book = np.zeros((n, MAX_TOUCHES))
            seen_book[lead, k] = booked_seen
            seen_fail = np.zeros((n, MAX_TOUCHES))
            seen_fail[lead, k] = failed_seen
            go_on = (1 - p) * (1 - f * present)
            reach = np.cumprod(np.hstack([np.ones((n, 1)), go_on[:, :-1]]), axis=1)
            booked = (reach * p * seen_book).sum(axis=1)
            failed = (reach * (1 - p) * f * present * seen_fail).sum(axis=1)
            open_end = reach[:, -1] * go_on[:, -1]
            final = booked + failed + open_end * stale_if_open
            sums[signal, value] = (booked[touched].sum(), final[touched].sum())
    return sums


@dataclass
class _Events:
    """Engagement events of sent touches: the touch (index into the sent touches), time, action, metadata."""

    touch: list[np.ndarray] = field(default_factory=list)
    at: list[np.ndarray] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    metadata: list[str | None] = field(default_factory=list)


def _engagement(rng: np.random.Generator, ch: np.ndarray, k: np.ndarray, t: np.ndarray, window_end: np.ndarray,
                converting: np.ndarray, failing: np.ndarray) -> _Events:
    """Opens, clicks, replies, call outcomes and deliveries after sent touches, inside their window
    (before the next touch, the lead's outcome and as_of). Failing touches only get their failure event."""
    events = _Events()
    window = np.maximum(window_end - t, 2)
    u = rng.random((len(t), 6))
    early = u[:, 5] ** 3 * 0.9  # engagement mostly comes soon after the touch

    def add(mask: np.ndarray, action: str | np.ndarray, frac: np.ndarray, metadata: str | None) -> None:
        rows = np.flatnonzero(mask)
        at = t[rows] + np.maximum(1, (window[rows] * frac[rows]).astype(np.int64))
        keep = at < window_end[rows]
        rows = rows[keep]
        events.touch.append(rows)
        events.at.append(at[keep])
        events.action += [action] * len(rows) if isinstance(action, str) else action[rows].tolist()
        events.metadata += [metadata] * len(rows)

    plain = ~failing
    later = np.minimum(0.95, early + 0.1)
    neutral = '{"sentiment": "neutral"}'
    opened = plain & (ch == EMAIL) & (u[:, 0] < np.where(converting, 0.8, 0.35))
    add(opened, "email_opened", early, None)
    add(opened & (u[:, 1] < 0.13), "email_clicked", np.minimum(0.95, early + 0.05), None)
    add(plain & ~converting & (ch == EMAIL) & (u[:, 2] < 0.015), "email_replied", later, neutral)
    add(plain & (ch == LINKEDIN) & (k == 0) & (u[:, 0] < 0.30), "linkedin_accepted", early, None)
    add(plain & ~converting & (ch == LINKEDIN) & (u[:, 2] < 0.02), "linkedin_replied", later, neutral)
    add(plain & ~converting & (ch == SMS) & (u[:, 2] < 0.02), "sms_replied", later, neutral)
    call = np.array(["voice_voicemail", "voice_no_answer", "voice_answered"], dtype=object)[
        np.searchsorted([0.55, 0.85], u[:, 3], side="right")]
    add(plain & ~converting & (ch == VOICE), call, np.zeros(len(t)), None)
    add(plain & (ch == MAIL) & (u[:, 3] < 0.5), "mail_delivered", np.minimum(0.9, 0.3 + early), None)
    # Converting touches: a positive reply before the booking (a call: the answered call itself).
    positive = converting & ((ch == VOICE) | ((ch != MAIL) & (u[:, 4] < 0.6)))
    add(positive, np.array(POSITIVE_REPLY_ACTIONS, dtype=object)[ch],
        np.where(ch == VOICE, 0.0, 0.5 + 0.4 * u[:, 5]), '{"sentiment": "positive"}')
    return events


def generate_batch(ctx: RunContext, client: ClientPlan, batch: int, n: int) -> Batch:
    """``n`` leads (batch number ``batch``) of one client with all their activities, COPY-encoded."""
    rng = rng_for(ctx.seed, STREAM_BATCH, client.index, batch)
    als_rng = rng_for(ctx.seed, STREAM_ALS, client.index, batch) if client.effects.als_independent else None
    leads = _draw_leads(rng, client, n, als_rng)
    schedule = _schedule(rng, ctx, client, leads)
    lead, k = np.nonzero((np.arange(MAX_TOUCHES) < schedule.planned[:, None]) & (schedule.t_us < ctx.as_of_us))
    senders = np.array([c.sender for c in client.campaigns], dtype=object)
    sender_chars, sender_words = _sizes(senders)
    sizes = {  # slot -> (chars, words) per lead
        "first_name": (_FIRST_CHARS[leads.first], np.ones(n, dtype=np.int64)),
        "company": (_COMPANY_CHARS[leads.company], _COMPANY_WORDS[leads.company]),
        "industry": (_INDUSTRY_CHARS[leads.industry], _INDUSTRY_WORDS[leads.industry]),
        "sender": (sender_chars[leads.campaign], sender_words[leads.campaign]),
    }
    plan = plan_content(rng, ctx.tables, client.style, channel=schedule.channel[lead, k], touch_number=k + 1,
                        peak_touch_template=ctx.peak_touch_template,
                        slot_words={slot: words[lead] for slot, (_, words) in sizes.items()},
                        slot_chars={slot: chars[lead] for slot, (chars, _) in sizes.items()})
    out = _draw_outcomes(rng, ctx, client, leads, schedule, lead, k, plan)

    # ---- sent touches and their events ----------------------------------------------------------
    s_idx = np.flatnonzero(out.sent)
    s_lead, s_k = lead[s_idx], k[s_idx]
    s_ch, s_t = schedule.channel[s_lead, s_k], schedule.t_us[s_lead, s_k]
    s_outcome = out.outcome_at[s_idx]
    s_converting = s_outcome & (out.event[s_idx] == 1)
    s_next = schedule.next_us[s_lead, s_k]
    window_end = np.where(s_outcome, out.outcome_us[s_idx],
                          np.minimum(np.where(s_next < _NEVER, s_next, s_t + EVENT_WINDOW_LAST_S * US), ctx.as_of_us))
    events = _engagement(rng, s_ch, s_k, s_t, window_end, s_converting, s_outcome & (out.event[s_idx] == 2))
    ev_touch = np.concatenate(events.touch)
    ev_at = np.concatenate(events.at)

    first_names = np.array(catalog.FIRST_NAMES, dtype=object)[leads.first]
    companies = _COMPANIES[leads.company]
    subjects, bodies = render(ctx.tables, plan, s_idx, s_ch, {
        "first_name": first_names[s_lead].tolist(), "company": companies[s_lead].tolist(),
        "industry": _INDUSTRY_NAMES[leads.industry[s_lead]].tolist(),
        "sender": senders[leads.campaign[s_lead]].tolist(), "client": repeat(client.name, len(s_idx)),
    })
    snapshots = [snapshot_json(CHANNELS[c], s, b, w, x, p, step) for c, s, b, w, x, p, step in zip(
        s_ch.tolist(), subjects, bodies, plan.words[s_idx].tolist(), plan.chars[s_idx].tolist(),
        plan.personalization[s_idx].tolist(), (s_k + 1).tolist())]
    durations = rng.integers(20, 600, len(s_idx))
    outbound_meta = [f'{{"duration_seconds": {d}}}' if c == VOICE else None
                     for c, d in zip(s_ch.tolist(), durations.tolist())]

    # ---- outcome events: the booking or the failure -----------------------------------------------
    o_idx = np.flatnonzero(out.outcome_at)
    o_lead, o_ch = lead[o_idx], schedule.channel[lead[o_idx], k[o_idx]]
    o_booked = (out.event[o_idx] == 1).tolist()
    o_type = out.failure_type[o_idx].tolist()
    outcome_actions = ["meeting_booked" if booked else FAILURE_ACTIONS[FAILURE_TYPES[ft]][c]
                       for booked, ft, c in zip(o_booked, o_type, o_ch.tolist())]
    outcome_meta = ['{"source": "calendar_link"}' if booked else f'{{"failure": "{FAILURE_TYPES[ft]}"}}'
                    for booked, ft in zip(o_booked, o_type)]

    # ---- activities, ordered by lead and time -----------------------------------------------------
    n_out, n_other = len(s_idx), len(ev_touch) + len(o_idx)
    a_lead = np.concatenate([s_lead, s_lead[ev_touch], o_lead])
    a_ch = np.concatenate([s_ch, s_ch[ev_touch], o_ch])
    a_step = np.concatenate([s_k, s_k[ev_touch], k[o_idx]]) + 1
    a_at = np.concatenate([s_t, ev_at, out.outcome_us[o_idx]])
    a_led = np.concatenate([s_converting, np.zeros(n_other, dtype=bool)])
    a_action = [OUTBOUND_ACTIONS[c] for c in s_ch.tolist()] + events.action + outcome_actions
    a_subject = subjects + [None] * n_other
    a_preview = [b[:200] for b in bodies] + [None] * n_other
    a_snapshot = snapshots + [None] * n_other
    a_meta = outbound_meta + events.metadata + outcome_meta
    order = np.lexsort((a_at, a_lead))
    pick = order.tolist()
    campaign_ids = fmt_uuid(np.stack([c.id for c in client.campaigns]))
    lead_ids = fmt_uuid(leads.ids)
    client_id = fmt_uuid(client.id[None, :])[0]
    activities = encode_rows("activities", {
        "id": fmt_uuid(uuid_bytes(rng, len(order))),
        "client_id": repeat(client_id, len(order)),
        "campaign_id": [campaign_ids[leads.campaign[a]] for a in a_lead[order].tolist()],
        "lead_id": [lead_ids[a] for a in a_lead[order].tolist()],
        "channel": [CHANNELS[c] for c in a_ch[order].tolist()],
        "action": [a_action[i] for i in pick],
        "sequence_step": fmt_int(a_step[order]),
        "subject": fmt_text([a_subject[i] for i in pick]),
        "content_preview": fmt_text([a_preview[i] for i in pick]),
        "metadata": fmt_text([a_meta[i] for i in pick]),
        "created_at": fmt_timestamp(a_at[order]),
        "led_to_booking": fmt_bool(a_led[order]),
        "content_snapshot": fmt_text([a_snapshot[i] for i in pick]),
    })

    # ---- leads -------------------------------------------------------------------------------------
    n_sent = np.bincount(s_lead, minlength=n)
    last_touch = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_touch, s_lead, s_t)
    last_activity = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_activity, a_lead, a_at)
    untouched = n_sent == 0
    first_planned = schedule.t_us[:, 0]
    # Created 1-10 days before the first touch (untouched leads: before as_of).
    created = np.minimum(first_planned - (leads.created_days * DAY * US).astype(np.int64),
                         ctx.as_of_us - (leads.created_days * HOUR * US).astype(np.int64))
    scored = created + np.minimum(leads.scored_after_s * US, (ctx.as_of_us - created) // 2)
    converted, failed = out.lead_outcome == 1, out.lead_outcome == 2
    open_lead = out.lead_outcome == 0
    # SPEC §4 (int_lead_outcomes): stale = open, and no touch (never touched: no creation) in 30 days.
    stale = open_lead & (np.where(untouched, created, last_touch) <= ctx.as_of_us - STALE_AFTER_DAYS * DAY * US)
    status = np.full(n, "in_sequence", dtype=object)
    status[stale & (rng.random(n) < 0.7)] = "nurturing"
    status[untouched] = np.array(["scored", "enriched", "new"], dtype=object)[rng.choice(3, n, p=[0.6, 0.25, 0.15])][untouched]
    status[converted] = "converted"
    status[failed] = np.array(FAILURE_TYPES, dtype=object)[out.lead_failure[failed]]
    score = als_score(leads.components, leads.risk)
    score_today = np.where(np.isin(status, ["bounced", "unsubscribed"]), np.maximum(0, score - FAILURE_SCORE_PENALTY), score)

    first_day = first_planned // (DAY * US)
    countries = [catalog.LEAD_ZONES[z][1] for z in leads.zone.tolist()]
    domains = [f"{_COMPANY_SLUGS[c]}.{_TLD[country]}" for c, country in zip(leads.company.tolist(), countries)]
    titles = [catalog.TITLE_GROUPS[g].spellings[int(u * len(catalog.TITLE_GROUPS[g].spellings))]
              for g, u in zip(leads.title_group.tolist(), leads.title_u.tolist())]
    titles = [t if m == 0 else t.lower() if m == 1 else t.upper() if m == 2 else f" {t} "
              for t, m in zip(titles, leads.title_mess.tolist())]
    lo = np.array([b[1] for b in SIZE_BUCKETS])[leads.size_bucket]
    hi = np.array([b[2] for b in SIZE_BUCKETS])[leads.size_bucket]
    employees = np.where(leads.size_bucket == len(SIZE_BUCKETS) - 1,
                         np.exp(np.log(lo) + leads.size_u * (np.log(hi) - np.log(lo))), lo + leads.size_u * (hi - lo + 1))
    lead_rows = encode_rows("leads", {
        "id": lead_ids,
        "client_id": repeat(client_id, n),
        "campaign_id": [campaign_ids[c] for c in leads.campaign.tolist()],
        "email": fmt_text(_emails(client, leads, domains)),
        "phone": [f"{_DIAL[c]} {d:07d}" if ok else NULL
                  for c, d, ok in zip(countries, leads.phone_digits.tolist(), leads.has_phone.tolist())],
        "first_name": fmt_text(first_names.tolist()),
        "last_name": fmt_text([catalog.LAST_NAMES[i] for i in leads.last.tolist()]),
        "title": fmt_text(titles),
        "company": fmt_text(companies.tolist()),
        "linkedin_url": [f"https://www.linkedin.com/in/{_FIRST_SLUGS[f]}-{_LAST_SLUGS[l_]}-{d:x}" if ok else NULL
                         for f, l_, d, ok in zip(leads.first.tolist(), leads.last.tolist(),
                                                 leads.phone_digits.tolist(), leads.has_linkedin.tolist())],
        "domain": fmt_text(domains),
        "timezone": [NULL if null else _ZONES[z] for z, null in zip(leads.zone.tolist(), leads.tz_null.tolist())],
        "organization_industry": fmt_text(_INDUSTRY_NAMES[leads.industry].tolist()),
        "organization_employee_count": fmt_int(employees, leads.employees_null),
        "organization_country": fmt_text(countries),
        "organization_is_hiring": fmt_bool(leads.hiring, leads.hiring_null),
        "organization_latest_funding_date": fmt_date(first_day - leads.funding_days, ~leads.has_funding),
        "employment_start_date": fmt_date(first_day - leads.role_days, leads.employment_null),
        "seniority_level": [NULL if null else catalog.TITLE_GROUPS[g].seniority
                            for g, null in zip(leads.title_group.tolist(), leads.seniority_null.tolist())],
        "als_score": fmt_int(score_today),
        "als_tier": als_tier(score_today).tolist(),
        "status": status.tolist(),
        "created_at": fmt_timestamp(created),
        "updated_at": fmt_timestamp(np.maximum(scored, last_activity)),
        "als_components": [f'{{"data_quality": {a}, "authority": {b}, "company_fit": {c}, "timing": {d}, "risk": {r}}}'
                           for (a, b, c, d), r in zip(leads.components.tolist(), leads.risk.tolist())],
        "als_weights_used": repeat("{" + ", ".join(f'"{k}": {v}' for k, v in DEFAULT_ALS_WEIGHTS.items()) + "}", n),
        "scored_at": fmt_timestamp(scored),
        "converted_at": fmt_timestamp(out.lead_outcome_us, ~converted),
    })

    counts: Counter[str] = Counter({
        "leads": n, "untouched": int(untouched.sum()), "outbound_touches": n_out, "activities": len(order),
        "events": n_other, "conversions": int(converted.sum()), "failures": int(failed.sum()),
        "in_flight": int((open_lead & ~stale).sum()), "stale": int(stale.sum()),
        "sequence_unfinished": int((open_lead & ~untouched & (n_sent < schedule.planned)).sum()),
    })
    for i, name in enumerate(FAILURE_TYPES):
        counts[f"failed_{name}"] = int((out.lead_failure[failed] == i).sum())
    booked_at = o_idx[np.array(o_booked, dtype=bool)]
    return Batch(leads=lead_rows, activities=activities, counts=counts,
                 conversions_by_touch=np.bincount(k[booked_at], minlength=MAX_TOUCHES), signal_sums=out.signal_sums)


def _emails(client: ClientPlan, leads: _Leads, domains: list[str]) -> list[str]:
    """first.last / flast / first / first_last at the company's domain, unique per client (a number is
    appended on collision). Batches of a client are generated in order, so this stays deterministic."""
    emails = []
    for first, last, style, domain in zip(leads.first.tolist(), leads.last.tolist(), leads.email_style.tolist(), domains):
        f, l_ = _FIRST_SLUGS[first], _LAST_SLUGS[last]
        local = (f"{f}.{l_}", f"{f[0]}{l_}", f, f"{f}_{l_}")[style]
        email, suffix = f"{local}@{domain}", 2
        while email in client.used_emails:
            email, suffix = f"{local}{suffix}@{domain}", suffix + 1
        client.used_emails.add(email)
        emails.append(email)
    return emails
