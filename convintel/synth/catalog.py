"""Static reference data of the synthetic world: titles, industries, zones, names, companies.

Every string here can end up in a message body or subject (names, companies, industries) or in a
lead column (titles). None of them may contain a content-vocabulary phrase (pain-point keyword, CTA
phrase, angle cue) or a subject-template pattern, otherwise the text would carry features that were
not planted; tests/test_synth.py checks that.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TitleGroup:
    """A normalised title with its seniority level, the messy spellings leads carry, and its share."""

    key: str
    seniority: str
    spellings: tuple[str, ...]
    share: float


TITLE_GROUPS: tuple[TitleGroup, ...] = (
    TitleGroup("ceo", "c_suite", ("CEO", "Chief Executive Officer", "Founder & CEO", "Co-Founder and CEO", "ceo"), 0.10),
    TitleGroup("founder", "founder", ("Founder", "Co-Founder", "Co-founder", "Owner", "Owner/Founder"), 0.09),
    TitleGroup("cro", "c_suite", ("Chief Revenue Officer", "CRO", "Chief Sales Officer"), 0.04),
    TitleGroup("cmo", "c_suite", ("CMO", "Chief Marketing Officer"), 0.04),
    TitleGroup("vp_sales", "vp", ("VP of Sales", "Vice President, Sales", "VP Sales", "V.P. Sales", "Vice President of Sales"), 0.11),
    TitleGroup("vp_marketing", "vp", ("VP Marketing", "Vice President of Marketing", "VP, Marketing"), 0.07),
    TitleGroup("head_of_growth", "head", ("Head of Growth", "Growth Lead", "Head of Growth Marketing"), 0.07),
    TitleGroup("head_of_sales", "head", ("Head of Sales", "Head of Business Development"), 0.06),
    TitleGroup("sales_director", "director", ("Director of Sales", "Sales Director", "Dir. Sales", "Regional Sales Director"), 0.10),
    TitleGroup("marketing_director", "director", ("Marketing Director", "Director of Marketing", "Director, Demand Gen"), 0.07),
    TitleGroup("sales_manager", "manager", ("Sales Manager", "Regional Sales Manager", "Inside Sales Manager"), 0.09),
    TitleGroup("marketing_manager", "manager", ("Marketing Manager", "Mktg Manager", "Digital Marketing Manager"), 0.09),
    TitleGroup("sdr", "entry", ("Sales Development Representative", "SDR", "Business Development Rep", "BDR"), 0.07),
)

# organization_industry values, lowercase as enrichment providers write them, with their shares.
INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("computer software", 0.16),
    ("information technology and services", 0.12),
    ("financial services", 0.10),
    ("marketing and advertising", 0.10),
    ("hospital & health care", 0.08),
    ("real estate", 0.08),
    ("construction", 0.07),
    ("logistics and supply chain", 0.07),
    ("legal services", 0.06),
    ("accounting", 0.06),
    ("higher education", 0.05),
    ("retail", 0.05),
)

# (IANA zone, country, share among leads not in the client's own zone).
LEAD_ZONES: tuple[tuple[str, str, float], ...] = (
    ("America/New_York", "United States", 0.24),
    ("America/Chicago", "United States", 0.12),
    ("America/Denver", "United States", 0.05),
    ("America/Los_Angeles", "United States", 0.14),
    ("Europe/London", "United Kingdom", 0.12),
    ("Europe/Berlin", "Germany", 0.08),
    ("Europe/Paris", "France", 0.06),
    ("Australia/Sydney", "Australia", 0.08),
    ("Asia/Singapore", "Singapore", 0.06),
    ("Asia/Tokyo", "Japan", 0.05),
)

# Client (agency customer) zones, assigned round-robin from a seeded shuffle.
CLIENT_ZONES: tuple[str, ...] = (
    "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin",
    "Australia/Sydney", "Asia/Singapore", "America/Chicago",
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Margaret", "Donald", "Sandra",
    "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kenneth", "Michelle",
    "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa", "Priya", "Wei", "Aisha", "Mateo",
    "Sofia", "Lukas", "Hannah", "Oliver", "Chloe", "Raj", "Mei", "Kenji", "Fatima", "Noah",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen",
    "Patel", "Kim", "Singh", "Schmidt", "Fischer", "Weber", "Tan", "Lim", "Wong", "O'Brien",
)

# Senders (the agency's reps) and mutual connections: disjoint from lead first names, so a lead's
# first name appears in a text only when the first-name personalisation was planted.
SENDER_NAMES: tuple[str, ...] = ("Jordan", "Taylor", "Morgan", "Casey", "Riley", "Avery", "Quinn", "Reese")
CONNECTOR_NAMES: tuple[str, ...] = ("Dana Whitfield", "Alex Moreau", "Sam Okafor", "Jamie Lindqvist", "Robin Asante", "Drew Kowalski")

COMPANY_STEMS: tuple[str, ...] = (
    "Northwind", "Bluepeak", "Granite", "Silverline", "Brightwater", "Redwood", "Ironbridge", "Clearview",
    "Harbor", "Oakridge", "Maple", "Pinecrest", "Stonegate", "Lakeside", "Westfield", "Eastbrook",
    "Crescent", "Aurora", "Beacon", "Cobalt", "Juniper", "Meridian", "Sterling", "Willow", "Foxglove",
    "Kingsley", "Ashford", "Riverton", "Copperleaf", "Larkspur", "Halcyon", "Evergreen",
)
COMPANY_SUFFIXES: tuple[str, ...] = (
    "Labs", "Systems", "Group", "Holdings", "Logistics", "Health", "Realty", "Legal", "Builders",
    "Analytics", "Software", "Works", "Studio", "Finance", "Academy", "Supply",
)

AGENCY_STEMS: tuple[str, ...] = ("Lumen", "Northstar", "Kestrel", "Bright Path", "Tidewater", "Summit Peak", "Ember", "Harborline")
AGENCY_SUFFIXES: tuple[str, ...] = ("Agency", "Outreach", "Collective", "Sales Studio", "Group")

SUBSCRIPTION_STATUSES: tuple[str, ...] = ("active", "active", "active", "trialing", "past_due")
