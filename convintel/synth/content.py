"""Message content: which features each touch carries, its exact length, and its text.

Planning is vectorised: every touch gets indices into template tables (greeting, personalisation
sentences, pain-point sentence, angle sentences, CTA, fillers, sign-off) and its word and character
counts are computed from per-template counts, before any string exists. The hazard model then uses the
planned features (including the length bin of the exact final length), and only touches that are
actually sent are rendered to text, by list comprehensions over the same indices.

Every phrase that carries a planted feature comes from the dbt seed vocabularies (vocab.py); every
other string here is written so that it contains none of them (tests/test_synth.py checks it).

Body layout (``sep`` is a blank line for email, LinkedIn and mail, a space for SMS and voice)::

    greeting <sep> main paragraph <sep> first CTA [<sep> "P.S. " second CTA] <sep> sign-off

with the main paragraph = [company sentence] [recent-news sentence] [mutual-connection sentence]
pain-point sentence, angle sentences..., filler sentences..., joined by single spaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convintel.synth import catalog
from convintel.synth.catalog import CONNECTOR_NAMES
from convintel.synth.model import (CHANNELS, EMAIL, LENGTH_BINS, LENGTH_CHANNELS, LENGTH_UNIT, LINKEDIN, MAIL,
                                   PERSONALIZATION, SMS, VOICE, categorical_rows)
from convintel.synth.vocab import Vocabulary

SLOTS: tuple[str, ...] = ("first_name", "company", "industry", "sender", "connector", "client")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(SLOTS) + r")\}")

GREETINGS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {  # channel -> (anonymous, with first name)
    EMAIL: (("Hi there,", "Hello,", "Hi,"), ("Hi {first_name},", "Hello {first_name},", "Hey {first_name},")),
    LINKEDIN: (("Hi there,", "Hello,"), ("Hi {first_name},", "Hey {first_name},")),
    SMS: (("Hi,", "Hello,"), ("Hi {first_name},", "Hey {first_name},")),
    VOICE: (("Hi, this is {sender} calling.",), ("Hi {first_name}, this is {sender} calling.",)),
    MAIL: (("Dear reader,", "Hello,"), ("Dear {first_name},",)),
}
SIGNOFFS: dict[int, tuple[str, ...]] = {
    EMAIL: ("Thanks,\n{sender}", "Cheers,\n{sender}", "Best regards,\n{sender}", "Kind regards,\n{sender}"),
    LINKEDIN: ("Thanks, {sender}", "- {sender}"),
    SMS: ("- {sender}", "Thanks, {sender}"),
    VOICE: ("Talk soon.", "Thanks, speak soon."),
    MAIL: ("Sincerely,\n{sender}", "Kind regards,\n{sender}"),
}
SEPARATORS: dict[int, str] = {EMAIL: "\n\n", LINKEDIN: "\n\n", SMS: " ", VOICE: " ", MAIL: "\n\n"}

# Personalisation sentences. Their markers ("recent news", "recent announcement", "mutual connection")
# and the lead's company name, first name and industry make the flags detectable from the text.
COMPANY_SENTENCES = ("I have been following {company} for a while.", "The work {company} is doing caught my eye.",
                     "I came across {company} last week.")
NEWS_SENTENCES = ("I saw the recent news about your team.", "Congrats on the recent announcement from your team.")
MUTUAL_SENTENCES = ("We share a mutual connection in {connector}.", "{connector}, a mutual connection, suggested I reach out.")

# Pain-point frames; {kw} is a keyword of the planted category. "Long" = email, LinkedIn, voice, mail.
PAIN_FRAMES = {
    ("long", False): ("I keep hearing that {kw} is the hardest part of the job.",
                      "Most people in your role tell me {kw} is their biggest headache."),
    ("long", True): ("Leaders in {industry} keep telling me {kw} is the hardest part of the job.",
                     "Across {industry}, {kw} keeps coming up as the biggest headache."),
    ("short", False): ("Is {kw} a headache for you?", "How are you handling {kw}?"),
    ("short", True): ("Is {kw} a headache in {industry}?", "How are {industry} teams handling {kw}?"),
}
# Angle frames; {cue} / {Cue} is a cue of the angle (capitalised at a sentence start).
ANGLE_FRAMES: dict[str, tuple[str, ...]] = {
    "roi_focused": ("We track the {cue} for every rollout.", "Most teams see the {cue} inside 90 days."),
    "social_proof": ("{Cue} already rely on this approach.",),
    "curiosity": ("I was {cue} you had looked into this yet.",),
    "fear_based": ("Waiting usually means {cue} while others move.",),
    "value_add": ("I put together a short guide for you, {cue}.",),
    "authority": ("We are {cue} in this space.",),
    "urgency": ("We are onboarding a few new teams {cue}.",),
}
# A CTA phrase is written as its own sentence; these first words make it a question.
_QUESTION_STARTS = {"would", "worth", "open", "do", "does", "could", "can", "is", "are", "who", "how"}
PS_PREFIX = "P.S. "

FILLERS_LONG = (
    "Our approach is simple and takes very little effort from your side.",
    "We handle the research, the writing and the follow-up for you.",
    "Most of the setup happens in the first week.",
    "Everything runs inside the tools your team already uses.",
    "There is nothing to install and nothing to migrate.",
    "We share a short report every Friday so you always know where things stand.",
    "The process is easy to pause or adjust whenever you need.",
    "You keep full control over the messaging and the cadence.",
    "We started as a small agency and grew through referrals.",
    "The onboarding call takes about twenty minutes.",
    "We write every message by hand and review it twice.",
    "Our reporting shows exactly which messages get answered.",
    "Nothing changes for your team until you say so.",
    "We also take care of list hygiene and deliverability.",
    "Each campaign is reviewed weekly by a senior strategist.",
    "The first results usually arrive within two weeks.",
    "We can start small with a single region or product line.",
    "Our playbooks are built from thousands of real conversations.",
)
FILLERS_SHORT = ("Short note from our side.", "No long pitch, promise.", "Thanks for reading.", "Just a quick check in.")
MAX_FILLERS = 24

SUBJECT_VARIANTS: dict[str, tuple[str, ...]] = {
    "question_about": ("Question about {company}", "Question about your outreach", "Question on your sales process"),
    "quick_question": ("Quick question", "Quick question for {first_name}", "quick question"),
    "reply_style": ("Re: our last note", "Re: following up", "Fwd: for {first_name}", "RE: {company}"),
    "name_dash": ("{first_name} - a short note", "{first_name} - following up"),
    "idea_for": ("Idea for {company}", "An idea for your team", "Idea for your next campaign"),
    "thought_about": ("Thought about your outreach", "A thought about {company}", "Thoughts on your sales process"),
    "ends_question": ("Worth a look?", "Is outbound on your radar?", "Got a minute, {first_name}?"),
    "casual_greeting": ("Hi {first_name}", "Hey {first_name}", "Hi there", "Hello from {client}"),
    "introduction": ("Introduction: {client} and {company}", "Introducing {client}", "A brief introduction"),
    "partnership": ("Partnership with {company}", "Partnership idea", "Partnering on outbound"),
    "opportunity": ("An opportunity for {company}", "Opportunity for your team"),
    "congrats": ("Congrats on the momentum", "Congratulations, {first_name}", "Congrats to the {company} team"),
}
# Touch-position tilt of subject-template usage (multiplies the client's usage weights): introductions
# open sequences, "Re:" subjects follow up. Detectors must adjust for touch position (SPEC §6).
TEMPLATE_TILT_FIRST = {"introduction": 3.0, "reply_style": 0.0}
TEMPLATE_TILT_LATER = {"introduction": 0.3, "reply_style": 2.0}
# generate(peak_touch_template=...): that template only at this touch, this many times likelier there.
PEAK_TOUCH = 3
PEAK_TOUCH_TILT = 6.0

PERSONALIZATION_RATES = np.array([0.45, 0.60, 0.20, 0.12, 0.35])  # mean rates, in PERSONALIZATION order
ANGLE_COUNT_P = {"long": np.array([0.10, 0.45, 0.30, 0.15]), "short": np.array([0.40, 0.60, 0.0, 0.0])}
MAX_ANGLES = 3
# Target lengths for channels without a length effect (words).
VOICE_WORDS = (40, 90)
MAIL_WORDS = (110, 200)


def cta_sentence(phrase: str) -> str:
    end = "?" if phrase.split()[0] in _QUESTION_STARTS else "."
    return phrase[0].upper() + phrase[1:] + end


class TemplateTable:
    """Grouped templates with {slot} placeholders and their exact size once filled.

    A template's word count is ``split()`` tokens of the template text (a placeholder token counts as
    one) plus, per placeholder, the value's words minus one; its character count is the template length
    without placeholders plus the values' lengths.
    """

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self.texts = [text for group in groups for text in group]
        self.sizes = np.array([len(group) for group in groups], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.words = np.array([len(t.split()) for t in self.texts], dtype=np.int64)
        self.chars = np.array([len(_PLACEHOLDER.sub("", t)) for t in self.texts], dtype=np.int64)
        self.slot_counts = np.array([[t.count("{" + s + "}") for s in SLOTS] for t in self.texts],
                                    dtype=np.int64).reshape(len(self.texts), len(SLOTS))
        self.has_slots = [bool(_PLACEHOLDER.search(t)) for t in self.texts]

    def pick(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A uniformly chosen template of each row's group (u uniform in [0, 1))."""
        return self.offsets[group] + (u * self.sizes[group]).astype(np.int64)

    def measure(self, idx: np.ndarray, slot_words: np.ndarray, slot_chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Words and chars of template ``idx[t]`` filled with row t's slot values ((n_slots, T) arrays)."""
        counts = self.slot_counts[idx]  # (T, n_slots)
        words = self.words[idx] + np.einsum("ts,st->t", counts, slot_words - 1)
        chars = self.chars[idx] + np.einsum("ts,st->t", counts, slot_chars)
        return words, chars

    def render(self, i: int, values: dict[str, str]) -> str:
        return self.texts[i].format_map(values) if self.has_slots[i] else self.texts[i]


class ContentTables:
    """All template tables for one vocabulary, built once per run."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        n_channels = len(CHANNELS)
        self.greetings = TemplateTable([GREETINGS[ch][named] for ch in range(n_channels) for named in (0, 1)])
        self.signoffs = TemplateTable([SIGNOFFS[ch] for ch in range(n_channels)])
        self.company = TemplateTable([COMPANY_SENTENCES])
        self.news = TemplateTable([NEWS_SENTENCES])
        self.mutual = TemplateTable([MUTUAL_SENTENCES])
        # Pain group = (kind * 2 + industry_flag) * n_pain + category; variants = frames x keywords.
        self.pain = TemplateTable([
            [frame.replace("{kw}", kw) for frame in PAIN_FRAMES[(kind, bool(ind))] for kw in keywords]
            for kind in ("long", "short") for ind in (0, 1) for keywords in vocab.pain_keywords
        ])
        missing = set(vocab.angles) - set(ANGLE_FRAMES)
        if missing:
            raise ValueError(f"angle_cues.csv has angles without sentence frames in content.py: {sorted(missing)}")
        self.angles = TemplateTable([
            [frame.replace("{Cue}", cue[0].upper() + cue[1:]).replace("{cue}", cue)
             for frame in ANGLE_FRAMES[angle] for cue in cues]
            for angle, cues in zip(vocab.angles, vocab.angle_cues)
        ])
        self.ctas = TemplateTable([[cta_sentence(p)] for p in vocab.cta_phrases])
        missing = set(vocab.subject_templates) - set(SUBJECT_VARIANTS)
        if missing:
            raise ValueError(f"subject_templates.csv has templates without subject variants in content.py: {sorted(missing)}")
        # Subject group = template * 4 + first_name_flag * 2 + company_flag: the variants whose
        # placeholders the flags allow ({client} is always allowed).
        self.subjects = TemplateTable([
            [v for v in SUBJECT_VARIANTS[tpl]
             if (fn or "{first_name}" not in v) and (co or "{company}" not in v)]
            for tpl in vocab.subject_templates for fn in (0, 1) for co in (0, 1)
        ])
        self.subject_allowed = (self.subjects.sizes > 0).reshape(len(vocab.subject_templates), 2, 2)
        for name, table in (("greetings", self.greetings), ("signoffs", self.signoffs), ("company", self.company),
                            ("news", self.news), ("mutual", self.mutual), ("pain", self.pain), ("angles", self.angles),
                            ("ctas", self.ctas), ("subjects", self.subjects)):
            check_plain(table.texts, name)
        check_plain(FILLERS_LONG + FILLERS_SHORT, "fillers")
        check_plain(catalog.FIRST_NAMES + catalog.SENDER_NAMES + catalog.CONNECTOR_NAMES + catalog.COMPANY_STEMS
                    + catalog.COMPANY_SUFFIXES + catalog.AGENCY_STEMS + catalog.AGENCY_SUFFIXES
                    + tuple(name for name, _ in catalog.INDUSTRIES), "catalog")
        self.fillers = {"long": FILLERS_LONG, "short": FILLERS_SHORT}
        self.filler_runs: dict[str, list[list[str]]] = {}
        self.filler_words: dict[str, np.ndarray] = {}
        self.filler_chars: dict[str, np.ndarray] = {}
        for kind, fillers in self.fillers.items():
            n = len(fillers)
            runs = [[" ".join(fillers[(s + j) % n] for j in range(m)) for m in range(MAX_FILLERS + 1)] for s in range(n)]
            self.filler_runs[kind] = runs
            # Cumulative size of m fillers from start s; +1 char each for the joining space.
            self.filler_words[kind] = np.array([[len(r.split()) for r in row] for row in runs], dtype=np.int64)
            self.filler_chars[kind] = np.array([[len(r) + (1 if r else 0) for r in row] for row in runs], dtype=np.int64)


@dataclass
class ClientStyle:
    """How a client writes (usage mix), independent of what works: drawn per client in both worlds."""

    template_weights: np.ndarray
    cta_weights: np.ndarray
    personalization_rates: np.ndarray
    second_cta_rate: float


def draw_style(rng: np.random.Generator, vocab: Vocabulary) -> ClientStyle:
    return ClientStyle(
        template_weights=rng.dirichlet(np.full(len(vocab.subject_templates), 4.0)),
        cta_weights=rng.dirichlet(np.full(len(vocab.cta_phrases), 6.0)),
        personalization_rates=np.clip(PERSONALIZATION_RATES * rng.uniform(0.7, 1.3, len(PERSONALIZATION)), 0.05, 0.9),
        second_cta_rate=float(rng.uniform(0.15, 0.35)),
    )


@dataclass
class ContentPlan:
    """Per planned touch: template indices (-1 = absent), planted features and exact body size."""

    template: np.ndarray         # subject template (email only)
    subject: np.ndarray          # subject variant
    greeting: np.ndarray
    company: np.ndarray
    news: np.ndarray
    mutual: np.ndarray
    connector: np.ndarray
    pain_point: np.ndarray       # category
    pain: np.ndarray             # sentence
    angles: np.ndarray           # (T, n_angles) bool: planted angles
    angle_sentences: np.ndarray  # (T, MAX_ANGLES), in text order
    cta: np.ndarray              # first CTA in the text
    cta2: np.ndarray             # second CTA (P.S.), -1 if none
    filler_start: np.ndarray
    filler_count: np.ndarray
    signoff: np.ndarray
    personalization: np.ndarray  # (T, 5) bool
    words: np.ndarray
    chars: np.ndarray
    length_bin: np.ndarray       # index into LENGTH_BINS[channel], -1 for voice and mail


def plan_content(rng: np.random.Generator, tables: ContentTables, style: ClientStyle, *,
                 channel: np.ndarray, touch_number: np.ndarray,
                 slot_words: dict[str, np.ndarray], slot_chars: dict[str, np.ndarray],
                 peak_touch_template: str | None = None) -> ContentPlan:
    """Plan the content of T touches. ``slot_words``/``slot_chars`` give per-touch sizes of the
    first_name, company, industry and sender values."""
    vocab = tables.vocab
    t = len(channel)
    is_email = channel == EMAIL
    is_short = channel == SMS
    kind_idx = is_short.astype(np.int64)

    pers = rng.random((t, len(PERSONALIZATION))) < style.personalization_rates
    flag = {name: pers[:, i] for i, name in enumerate(PERSONALIZATION)}
    first_name, company_flag, industry_flag = flag["first_name"], flag["company_mention"], flag["industry_specific"]
    news_flag, mutual_flag = flag["recent_news"], flag["mutual_connection"]

    connector = rng.integers(0, len(CONNECTOR_NAMES), t)
    # The client's name only appears in subjects, which do not count towards the body's length.
    sized_words = {**slot_words, "connector": np.array([len(n.split()) for n in CONNECTOR_NAMES])[connector],
             "client": np.ones(t, dtype=np.int64)}
    sized_chars = {**slot_chars, "connector": np.array([len(n) for n in CONNECTOR_NAMES])[connector],
             "client": np.zeros(t, dtype=np.int64)}
    words_by_slot = np.stack([sized_words[slot] for slot in SLOTS])
    chars_by_slot = np.stack([sized_chars[slot] for slot in SLOTS])

    def measured(table: TemplateTable, idx: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.where(present, idx, -1)
        w, c = table.measure(np.maximum(idx, 0), words_by_slot, chars_by_slot)
        return idx, np.where(present, w, 0), np.where(present, c, 0)

    always = np.ones(t, dtype=bool)
    greeting, gw, gc = measured(tables.greetings, tables.greetings.pick(channel * 2 + first_name, rng.random(t)), always)
    signoff, sw, sc = measured(tables.signoffs, tables.signoffs.pick(channel, rng.random(t)), always)
    company, cw, cc = measured(tables.company, tables.company.pick(np.zeros(t, np.int64), rng.random(t)), company_flag)
    news, nw, nc = measured(tables.news, tables.news.pick(np.zeros(t, np.int64), rng.random(t)), news_flag)
    mutual, mw, mc = measured(tables.mutual, tables.mutual.pick(np.zeros(t, np.int64), rng.random(t)), mutual_flag)

    n_pain = len(vocab.pain_points)
    pain_point = rng.integers(0, n_pain, t)
    pain, pw, pc = measured(tables.pain, tables.pain.pick((kind_idx * 2 + industry_flag) * n_pain + pain_point, rng.random(t)), always)

    # Angles: a random count, then that many distinct angles in random order.
    n_angle_types = len(vocab.angles)
    counts = np.where(is_short, rng.choice(MAX_ANGLES + 1, t, p=ANGLE_COUNT_P["short"]),
                      rng.choice(MAX_ANGLES + 1, t, p=ANGLE_COUNT_P["long"]))
    order = np.argsort(rng.random((t, n_angle_types)), axis=1)[:, :MAX_ANGLES]
    angle_u = rng.random((t, MAX_ANGLES))
    angles = np.zeros((t, n_angle_types), dtype=bool)
    angle_sentences = np.full((t, MAX_ANGLES), -1, dtype=np.int64)
    aw = np.zeros(t, dtype=np.int64)
    ac = np.zeros(t, dtype=np.int64)
    for j in range(MAX_ANGLES):
        present = counts > j
        idx, w, c = measured(tables.angles, tables.angles.pick(order[:, j], angle_u[:, j]), present)
        angle_sentences[:, j] = idx
        angles[np.flatnonzero(present), order[present, j]] = True
        aw += w
        ac += c

    n_cta = len(vocab.cta_phrases)
    cta = rng.choice(n_cta, t, p=style.cta_weights)
    has_cta2 = (rng.random(t) < style.second_cta_rate) & (channel != SMS) & (channel != VOICE)
    cta2 = np.where(has_cta2, (cta + 1 + rng.integers(0, n_cta - 1, t)) % n_cta, -1)
    c1w, c1c = tables.ctas.measure(cta, words_by_slot, chars_by_slot)
    c2w, c2c = tables.ctas.measure(np.maximum(cta2, 0), words_by_slot, chars_by_slot)
    c2w = np.where(has_cta2, c2w + len(PS_PREFIX.split()), 0)
    c2c = np.where(has_cta2, c2c + len(PS_PREFIX), 0)

    # Subject (email only): client usage weights, tilted by touch position, restricted to templates
    # whose variants the personalisation flags allow.
    template = np.full(t, -1, dtype=np.int64)
    subject = np.full(t, -1, dtype=np.int64)
    e = np.flatnonzero(is_email)
    if len(e):
        weights = np.tile(style.template_weights, (len(e), 1))
        first = touch_number[e] == 1
        for name, factor in TEMPLATE_TILT_FIRST.items():
            if name in vocab.subject_templates:
                weights[first, vocab.subject_templates.index(name)] *= factor
        for name, factor in TEMPLATE_TILT_LATER.items():
            if name in vocab.subject_templates:
                weights[~first, vocab.subject_templates.index(name)] *= factor
        if peak_touch_template is not None:  # reweights only: the random draws stay the same
            peak = touch_number[e] == PEAK_TOUCH
            column = vocab.subject_templates.index(peak_touch_template)
            weights[peak, column] *= PEAK_TOUCH_TILT
            weights[~peak, column] = 0.0
        fn_e, co_e = first_name[e].astype(np.int64), company_flag[e].astype(np.int64)
        weights *= tables.subject_allowed[:, fn_e, co_e].T
        template[e] = categorical_rows(rng, weights)
        subject[e] = tables.subjects.pick(template[e] * 4 + fn_e * 2 + co_e, rng.random(len(e)))

    # Core size (everything but fillers).
    sep = np.array([len(SEPARATORS[ch]) for ch in range(len(CHANNELS))])[channel]
    n_main = 1 + company_flag + news_flag + mutual_flag + counts
    n_blocks = 4 + has_cta2
    core_words = gw + cw + nw + mw + pw + aw + c1w + c2w + sw
    core_chars = gc + cc + nc + mc + pc + ac + (n_main - 1) + c1c + c2c + sc + sep * (n_blocks - 1)

    # Length target, then the fewest fillers that reach it.
    target = np.zeros(t, dtype=np.int64)
    for name in LENGTH_CHANNELS:
        mask = channel == CHANNELS.index(name)
        bins = LENGTH_BINS[name]
        chosen = rng.integers(0, len(bins), mask.sum())
        lo = np.array([b[1] for b in bins])[chosen]
        hi = np.array([b[2] for b in bins])[chosen]
        target[mask] = lo + (rng.random(mask.sum()) * (hi - lo + 1)).astype(np.int64)
    for ch, (lo, hi) in ((VOICE, VOICE_WORDS), (MAIL, MAIL_WORDS)):
        mask = channel == ch
        target[mask] = rng.integers(lo, hi + 1, mask.sum())
    filler_start = np.zeros(t, dtype=np.int64)
    filler_count = np.zeros(t, dtype=np.int64)
    fill_words = np.zeros(t, dtype=np.int64)
    fill_chars = np.zeros(t, dtype=np.int64)
    for kind, mask in (("long", ~is_short), ("short", is_short)):
        rows = np.flatnonzero(mask)
        start = rng.integers(0, len(tables.fillers[kind]), len(rows))
        in_chars = channel[rows] == SMS
        cumulative = np.where(in_chars[:, None], tables.filler_chars[kind][start], tables.filler_words[kind][start])
        need = target[rows] - np.where(in_chars, core_chars[rows], core_words[rows])
        count = np.minimum((cumulative < need[:, None]).sum(axis=1), MAX_FILLERS)
        filler_start[rows] = start
        filler_count[rows] = count
        fill_words[rows] = tables.filler_words[kind][start, count]
        fill_chars[rows] = tables.filler_chars[kind][start, count]
    words = core_words + fill_words
    chars = core_chars + fill_chars

    length_bin = np.full(t, -1, dtype=np.int64)
    for name in LENGTH_CHANNELS:
        mask = channel == CHANNELS.index(name)
        lows = np.array([b[1] for b in LENGTH_BINS[name]])
        size = chars if LENGTH_UNIT[name] == "chars" else words
        length_bin[mask] = np.searchsorted(lows, size[mask], side="right") - 1

    return ContentPlan(
        template=template, subject=subject, greeting=greeting, company=company, news=news, mutual=mutual,
        connector=connector, pain_point=pain_point, pain=pain, angles=angles, angle_sentences=angle_sentences,
        cta=cta, cta2=cta2, filler_start=filler_start, filler_count=filler_count, signoff=signoff,
        personalization=pers, words=words, chars=chars, length_bin=length_bin,
    )


def render(tables: ContentTables, plan: ContentPlan, rows: np.ndarray, channel: np.ndarray,
           values: dict[str, Sequence[str]]) -> tuple[list[str | None], list[str]]:
    """Subjects (None for non-email) and bodies of the planned touches ``rows``. ``values`` maps the
    slots first_name, company, industry, sender and client to one string per entry of ``rows``."""
    greetings, signoffs, pains, angles_t = tables.greetings, tables.signoffs, tables.pain, tables.angles
    company_t, news_t, mutual_t, ctas, subjects = tables.company, tables.news, tables.mutual, tables.ctas, tables.subjects
    cols = {name: getattr(plan, name)[rows].tolist() for name in (
        "subject", "greeting", "company", "news", "mutual", "connector", "pain", "cta", "cta2",
        "filler_start", "filler_count", "signoff")}
    angle_rows = plan.angle_sentences[rows].tolist()
    kinds = ["short" if ch == SMS else "long" for ch in channel.tolist()]
    seps = [SEPARATORS[ch] for ch in channel.tolist()]

    def one(i: int) -> tuple[str | None, str]:
        slot = {"first_name": values["first_name"][i], "company": values["company"][i],
                "industry": values["industry"][i], "sender": values["sender"][i],
                "connector": CONNECTOR_NAMES[cols["connector"][i]], "client": values["client"][i]}
        main = [company_t.render(cols["company"][i], slot) if cols["company"][i] >= 0 else "",
                news_t.render(cols["news"][i], slot) if cols["news"][i] >= 0 else "",
                mutual_t.render(cols["mutual"][i], slot) if cols["mutual"][i] >= 0 else "",
                pains.render(cols["pain"][i], slot)]
        main += [angles_t.render(a, slot) for a in angle_rows[i] if a >= 0]
        main.append(tables.filler_runs[kinds[i]][cols["filler_start"][i]][cols["filler_count"][i]])
        blocks = [greetings.render(cols["greeting"][i], slot), " ".join(s for s in main if s),
                  ctas.render(cols["cta"][i], slot)]
        if cols["cta2"][i] >= 0:
            blocks.append(PS_PREFIX + ctas.render(cols["cta2"][i], slot))
        blocks.append(signoffs.render(cols["signoff"][i], slot))
        subject = subjects.render(cols["subject"][i], slot) if cols["subject"][i] >= 0 else None
        return subject, seps[i].join(blocks)

    rendered = [one(i) for i in range(len(rows))]
    return [s for s, _ in rendered], [b for _, b in rendered]


def _json_string(text: str | None) -> str:
    """JSON string literal of a plain text (see check_plain): only newlines need escaping."""
    return "null" if text is None else '"' + text.replace("\n", "\\n") + '"'


def snapshot_json(channel: str, subject: str | None, body: str, words: int, chars: int,
                  personalization: Sequence[bool], step: int) -> str:
    """The content_snapshot the sending engine records (SPEC §3.3): the text as sent plus the
    merge fields it used."""
    flags = ", ".join(f'"{name}": {"true" if on else "false"}' for name, on in zip(PERSONALIZATION, personalization))
    return (f'{{"channel": "{channel}", "sequence_step": {step}, "subject": {_json_string(subject)}, '
            f'"body": {_json_string(body)}, "word_count": {words}, "char_count": {chars}, '
            f'"personalization": {{{flags}}}}}')


# Printable ASCII without '"' and '\\', plus newline: texts made of these need no JSON escaping
# beyond newlines, and their length in characters is their length in PostgreSQL.
_PLAIN = re.compile(r'[\n !#-\[\]-~]*')


def check_plain(texts: Sequence[str], what: str) -> None:
    bad = [t for t in texts if not _PLAIN.fullmatch(t)]
    if bad:
        raise ValueError(f"{what}: texts must be plain ASCII without quotes or backslashes: {bad[:3]}")
