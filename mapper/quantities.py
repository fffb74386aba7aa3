"""Numbers in news text and what they count: "more than 150,000 people", "Two hospitals".

A quantity mention is the number alone (digits, "1.5 million" or number words); the words
around it give the qualifier ("more than") and, with the nearest casualty verb or noun, the
kind of count an event carries (killed, injured, displaced, ...). Numbers that are part of
a date, a time, a percentage or money, and ordinals, are not counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "a dozen": 12, "dozen": 12,
}
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORDS = "|".join(sorted((w for w in NUMBER_WORDS if " " not in w), key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?<![\w$€£.,-])(?:(?P<digits>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)"
    rf"(?:\s(?P<dscale>thousand|million|billion))?"
    rf"|(?P<words>(?i:{_WORDS}))(?:[- ](?P<unit>(?i:one|two|three|four|five|six|seven|eight|"
    rf"nine)))?(?:\s(?P<wscale>hundred|thousand|million))?)(?![\w%])"
)
QUALIFIERS = [
    (re.compile(r"(?:more than|over|upwards of|in excess of)\s$", re.I), "more than"),
    (re.compile(r"(?:at least|a minimum of|no fewer than|no less than)\s$", re.I), "at least"),
    (re.compile(r"(?:about|around|some|roughly|approximately|nearly|almost|an estimated|"
                r"close to)\s$", re.I), "about"),
    (re.compile(r"(?:up to|at most|as many as)\s$", re.I), "at most"),
    (re.compile(r"(?:fewer than|less than|under)\s$", re.I), "fewer than"),
]
KIND_WORDS = [
    ("killed", r"kill|dead|die[ds]?\b|death|slain|lives|fatalit|massacre|executed"),
    ("injured", r"injur|wound|hurt|casualt"),
    ("displaced", r"displac|uproot|fled|flee|homeless|refugee|evacuat|forced from their homes"),
    ("arrested", r"arrest|detain|jailed|custody|rounded up|imprison"),
    ("missing", r"missing|abduct|kidnap|disappear"),
    ("damaged", r"struck|destroy|damag|hit\b|bombed|razed|burned|looted"),
    ("participants", r"protest|demonstrat|march|rall|gather|strik(?:e|ing) workers"),
]
_NOT_COUNTS = re.compile(r"^(?:\s*(?:%|percent|per cent|pct|a\.m\.|p\.m\.|years? old|GMT)|"
                         r"-[A-Za-z]|st\b|nd\b|rd\b|th\b|:\d)")


@dataclass(frozen=True)
class QuantityMention:
    start: int
    end: int
    text: str
    value: int
    qualifier: str


def find_quantities(text: str, offset: int = 0,
                    skip: list[tuple[int, int]] | None = None) -> list[QuantityMention]:
    """Numbers that count something; ``skip`` are spans (e.g. dates) to leave out."""
    found = []
    for match in _NUMBER.finditer(text):
        start, end = offset + match.start(), offset + match.end()
        if any(s <= start < e for s, e in skip or ()):
            continue
        if _NOT_COUNTS.match(text[match.end():]) or text[max(0, match.start() - 1):
                                                          match.start()] in ("$", "€", "£"):
            continue
        if match.group("words") and match.group("words").lower() == "one" \
                and not match.group("wscale"):
            continue  # "one of the", "one person": too often not a count
        value = _value(match)
        if value is None:
            continue
        found.append(QuantityMention(start, end, match.group(), value, _qualifier(text,
                                                                                 match.start())))
    return found


def _value(match: re.Match[str]) -> int | None:
    if match.group("digits"):
        number = float(match.group("digits").replace(",", ""))
        if "." in match.group("digits") and not match.group("dscale"):
            return None  # a decimal without a scale is a measure, not a count
        return int(number * SCALES.get(match.group("dscale") or "", 1))
    value = NUMBER_WORDS[match.group("words").lower()]
    if match.group("unit"):
        value += NUMBER_WORDS[match.group("unit").lower()]
    scale = match.group("wscale")
    if scale:
        value *= 100 if scale == "hundred" else SCALES[scale]
    return value


def _qualifier(text: str, start: int) -> str:
    before = text[max(0, start - 20):start]
    for pattern, name in QUALIFIERS:
        if pattern.search(before):
            return name
    return "exactly"


def count_kind(sentence: str, number_start: int) -> tuple[str, str] | None:
    """(kind, counted noun) for a number in a sentence: "120 civilians have been killed" ->
    ("killed", "civilians"). None when the sentence gives no kind."""
    after = sentence[number_start:]
    noun_match = re.match(r"[\w,.-]+(?:\s(?:thousand|million|billion))?\s+((?:[a-z-]+\s){0,2}?"
                          r"(?:people|civilians|persons|children|soldiers|troops|fighters|"
                          r"militants|rebels|protesters|demonstrators|police(?:men)?|officers|"
                          r"workers|residents|villagers|refugees|migrants|students|journalists|"
                          r"members|prisoners|hostages|families|facilities|hospitals|schools|"
                          r"homes|houses|buildings|[a-z]+s))\b", after)
    counted = noun_match.group(1) if noun_match else None
    # the counted noun says what is counted, the verb what happened to it ("arrested 35
    # protesters" are arrests); the noun decides only when nothing else does
    masked = sentence
    if noun_match:
        noun_start = number_start + noun_match.start(1)
        masked = sentence[:noun_start] + " " * len(counted or "") + \
            sentence[noun_start + len(counted or ""):]
    best: tuple[int, str] | None = None
    for text in (masked, sentence):
        best = _nearest_kind(text, number_start)
        if best is not None:
            break
    if best is None or best[0] > 90:
        return None
    return best[1], counted or ""


def _nearest_kind(sentence: str, number_start: int) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for kind, pattern in KIND_WORDS:
        for m in re.finditer(pattern, sentence, re.I):
            distance = abs(m.start() - number_start)
            if best is None or distance < best[0]:
                best = (distance, kind)
    return best
