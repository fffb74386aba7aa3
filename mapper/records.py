"""The record format: one article with its extracted entities, mentions and events.

Records are the interface between extraction and mapping (an external extractor can feed them
directly). :func:`parse_record` checks a JSON object against ``record.schema.json`` and then
the rules a schema cannot express (offsets match the text, references resolve), and returns
typed objects; every problem is reported with its JSON path so the author can fix it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).with_name("record.schema.json")
ACTOR_TYPES = frozenset({"Person", "Organization", "State", "ArmedGroup"})
PLACE_ENTITY_TYPES = frozenset({"Place", "State"})
MAX_REPORTED_PROBLEMS = 10
#: json.loads raises RecursionError (not a JSONDecodeError) on deep nesting.
JSON_TOO_DEEP = "JSON nested too deeply to read (arrays or objects ~1,000 levels deep)"


class RecordError(ValueError):
    """A record that cannot be mapped; ``problems`` lists each defect with its JSON path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more else ""))


@dataclass(frozen=True)
class DateValue:
    """A date known to a day, month or year, or only as a range: [earliest, latest]."""

    earliest: dt.date
    latest: dt.date

    @property
    def day(self) -> dt.date | None:
        """The exact day, when the date is known to the day."""
        return self.earliest if self.earliest == self.latest else None

    def __str__(self) -> str:
        """ISO 8601 at the precision known: 2019-05-14, 2018-12, 2018 or an interval."""
        first, last = self.earliest, self.latest
        if first == last:
            return first.isoformat()
        if first.day == 1 and first.month == 1 and (last.month, last.day) == (12, 31) \
                and first.year == last.year:
            return str(first.year)
        month_end = calendar.monthrange(first.year, first.month)[1]
        if first.day == 1 and (last.year, last.month, last.day) == (first.year, first.month,
                                                                    month_end):
            return first.isoformat()[:7]
        return f"{first.isoformat()}/{last.isoformat()}"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Article:
    id: str
    headline: str
    body: str
    language: str
    url: str | None = None
    published: dt.date | None = None
    source: str | None = None
    publisher: str | None = None
    dateline: str | None = None


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    type: str
    place_type: str | None = None
    wikidata: str | None = None
    link_score: float | None = None
    scope: str = "shared"


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    kind: str
    entity: str | None = None
    title: str | None = None
    affiliation: str | None = None
    metonymy: bool = False
    date: DateValue | None = None
    value: int | None = None


@dataclass(frozen=True)
class Participant:
    role: str
    entity: str
    mention: int | None = None


@dataclass(frozen=True)
class Quantity:
    kind: str
    value: int
    counts: str | None = None
    qualifier: str = "exactly"
    mention: int | None = None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    trigger: Span
    participants: tuple[Participant, ...]
    confidence: float
    place: str | None = None
    date: DateValue | None = None
    quantities: tuple[Quantity, ...] = ()
    modality: str = "asserted"
    reported_by: str | None = None
    background: bool = False


@dataclass(frozen=True)
class Record:
    article: Article
    entities: dict[str, Entity]
    mentions: tuple[Mention, ...]
    events: tuple[Event, ...]
    extractor_name: str = "unknown"
    extractor_version: str = "unknown"


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_date(value: str | dict[str, str]) -> DateValue:
    """Parse ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or ``{"earliest": .., "latest": ..}``."""
    if isinstance(value, dict):
        earliest = dt.date.fromisoformat(value["earliest"])
        latest = dt.date.fromisoformat(value["latest"])
        if latest < earliest:
            raise ValueError(f"latest {latest} is before earliest {earliest}")
        return DateValue(earliest, latest)
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 3:
        day = dt.date(*parts)
        return DateValue(day, day)
    if len(parts) == 2:
        year, month = parts
        last = calendar.monthrange(year, month)[1]
        return DateValue(dt.date(year, month, 1), dt.date(year, month, last))
    return DateValue(dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31))


def parse_record(obj: Any) -> Record:
    """Validate a decoded JSON record and build the typed record, or raise RecordError."""
    problems = [
        f"{error.json_path}: {error.message}"
        for error in sorted(_validator().iter_errors(obj), key=lambda e: e.json_path)
    ]
    if problems:
        raise RecordError(problems)
    builder = _Builder(obj)
    record = builder.build()
    if builder.problems:
        raise RecordError(builder.problems)
    return record


def load_record(path: Path) -> Record:
    """Read a record file; undecodable or malformed JSON is a RecordError naming the place."""
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError([f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"]) from exc
    except json.JSONDecodeError as exc:
        raise RecordError(
            [f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from exc
    except RecursionError:
        raise RecordError([JSON_TOO_DEEP]) from None
    return parse_record(obj)


class _Builder:
    """Checks cross-references and offsets while converting the JSON object."""

    def __init__(self, obj: dict[str, Any]):
        self.obj = obj
        self.problems: list[str] = []
        self.body: str = obj["article"]["body"]

    def build(self) -> Record:
        entities = self._entities()
        self.entities = entities
        article = self._article()
        mentions = self._mentions()
        self.mentions = mentions
        events = self._events()
        extractor = self.obj.get("extractor", {})
        return Record(
            article=article,
            entities=entities,
            mentions=mentions,
            events=events,
            extractor_name=extractor.get("name", "unknown"),
            extractor_version=extractor.get("version", "unknown"),
        )

    def _date(self, path: str, value: Any) -> DateValue | None:
        try:
            return parse_date(value)
        except ValueError as exc:
            self.problems.append(f"{path}: not a valid date ({exc})")
            return None

    def _ref(self, path: str, entity_id: str | None, allowed: frozenset[str]) -> None:
        if entity_id is None:
            return
        entity = self.entities.get(entity_id)
        if entity is None:
            self.problems.append(f"{path}: no entity with id {entity_id!r} in entities")
        elif entity.type not in allowed:
            kinds = " or ".join(sorted(allowed))
            self.problems.append(
                f"{path}: entity {entity_id!r} is a {entity.type}, expected {kinds}"
            )

    def _span(self, path: str, start: int, end: int, text: str) -> None:
        if end <= start:
            self.problems.append(f"{path}: end {end} must be greater than start {start}")
        elif end > len(self.body):
            self.problems.append(
                f"{path}: end {end} is past the end of the body ({len(self.body)} characters)"
            )
        elif self.body[start:end] != text:
            self.problems.append(
                f"{path}: text {text!r} does not match the body at {start}:{end}, "
                f"which reads {self.body[start:end]!r}"
            )

    def _article(self) -> Article:
        a = self.obj["article"]
        published = None
        if a.get("published"):
            day = self._date("$.article.published", a["published"])
            published = day.earliest if day else None
        self._ref("$.article.publisher", a.get("publisher"), ACTOR_TYPES)
        self._ref("$.article.dateline", a.get("dateline"), PLACE_ENTITY_TYPES)
        return Article(
            id=a["id"],
            headline=a["headline"],
            body=a["body"],
            language=a["language"],
            url=a.get("url"),
            published=published,
            source=a.get("source"),
            publisher=a.get("publisher"),
            dateline=a.get("dateline"),
        )

    def _entities(self) -> dict[str, Entity]:
        entities: dict[str, Entity] = {}
        for i, e in enumerate(self.obj["entities"]):
            if e["id"] in entities:
                self.problems.append(f"$.entities[{i}].id: duplicate entity id {e['id']!r}")
            if e.get("link_score") is not None and not e.get("wikidata"):
                self.problems.append(
                    f"$.entities[{i}]: link_score given but wikidata is null; "
                    "drop the score or give the QID"
                )
            entities[e["id"]] = Entity(
                id=e["id"],
                name=e["name"],
                type=e["type"],
                place_type=e.get("place_type"),
                wikidata=e.get("wikidata"),
                link_score=e.get("link_score"),
                scope=e.get("scope", "shared"),
            )
        return entities

    def _mentions(self) -> tuple[Mention, ...]:
        mentions = []
        seen: dict[tuple[int, int], int] = {}
        for i, m in enumerate(self.obj["mentions"]):
            path = f"$.mentions[{i}]"
            self._span(path, m["start"], m["end"], m["text"])
            key = (m["start"], m["end"])
            if key in seen:
                self.problems.append(f"{path}: same span as mentions[{seen[key]}]")
            seen[key] = i
            if m["kind"] in ("date", "quantity") and "entity" in m:
                self.problems.append(f"{path}.entity: a {m['kind']} mention names no entity")
            allowed = PLACE_ENTITY_TYPES if m["kind"] == "place" else ACTOR_TYPES
            self._ref(f"{path}.entity", m.get("entity"), allowed)
            self._ref(f"{path}.affiliation", m.get("affiliation"), ACTOR_TYPES)
            date = self._date(f"{path}.date", m["date"]) if "date" in m else None
            mentions.append(
                Mention(
                    start=m["start"],
                    end=m["end"],
                    text=m["text"],
                    kind=m["kind"],
                    entity=m.get("entity"),
                    title=m.get("title"),
                    affiliation=m.get("affiliation"),
                    metonymy=m.get("metonymy", False),
                    date=date,
                    value=m.get("value"),
                )
            )
        return tuple(mentions)

    def _mention_index(self, path: str, index: int | None, kinds: set[str]) -> None:
        if index is None:
            return
        if index >= len(self.mentions):
            self.problems.append(
                f"{path}: mention index {index} is out of range ({len(self.mentions)} mentions)"
            )
        elif self.mentions[index].kind not in kinds:
            self.problems.append(
                f"{path}: mentions[{index}] is a {self.mentions[index].kind} mention, "
                f"expected {' or '.join(sorted(kinds))}"
            )

    def _events(self) -> tuple[Event, ...]:
        events = []
        ids: set[str] = set()
        for i, e in enumerate(self.obj["events"]):
            path = f"$.events[{i}]"
            if e["id"] in ids:
                self.problems.append(f"{path}.id: duplicate event id {e['id']!r}")
            ids.add(e["id"])
            t = e["trigger"]
            self._span(f"{path}.trigger", t["start"], t["end"], t["text"])
            participants = []
            for j, p in enumerate(e["participants"]):
                self._ref(f"{path}.participants[{j}].entity", p["entity"], ACTOR_TYPES)
                self._mention_index(f"{path}.participants[{j}].mention", p.get("mention"),
                                    {"actor"})
                participants.append(Participant(p["role"], p["entity"], p.get("mention")))
            quantities = []
            for j, q in enumerate(e.get("quantities", [])):
                self._mention_index(f"{path}.quantities[{j}].mention", q.get("mention"),
                                    {"quantity"})
                quantities.append(
                    Quantity(q["kind"], q["value"], q.get("counts"),
                             q.get("qualifier", "exactly"), q.get("mention"))
                )
            self._ref(f"{path}.place", e.get("place"), PLACE_ENTITY_TYPES)
            self._ref(f"{path}.reported_by", e.get("reported_by"), ACTOR_TYPES)
            events.append(
                Event(
                    id=e["id"],
                    type=e["type"],
                    trigger=Span(t["start"], t["end"], t["text"]),
                    participants=tuple(participants),
                    confidence=e["confidence"],
                    place=e.get("place"),
                    date=self._date(f"{path}.date", e["date"]) if "date" in e else None,
                    quantities=tuple(quantities),
                    modality=e.get("modality", "asserted"),
                    reported_by=e.get("reported_by"),
                    background=e.get("background", False),
                )
            )
        return tuple(events)


def date_to_json(date: DateValue) -> str | dict[str, str]:
    text = str(date)
    if "/" in text:
        return {"earliest": date.earliest.isoformat(), "latest": date.latest.isoformat()}
    return text


def record_to_json(record: Record) -> dict[str, Any]:
    """The JSON form of a record (what :func:`parse_record` reads back to an equal record).

    Mentions also carry their entity's ``type`` and ``wikidata`` QID, for readers of
    ``newsgraph extract`` output; parse_record ignores them.
    """
    a = record.article
    article: dict[str, Any] = {
        "id": a.id, "url": a.url, "headline": a.headline, "body": a.body,
        "published": a.published.isoformat() if a.published else None,
        "source": a.source, "publisher": a.publisher, "dateline": a.dateline,
        "language": a.language,
    }
    entities = []
    for e in record.entities.values():
        item: dict[str, Any] = {"id": e.id, "name": e.name, "type": e.type,
                                "wikidata": e.wikidata}
        if e.place_type:
            item["place_type"] = e.place_type
        if e.link_score is not None:
            item["link_score"] = e.link_score
        if e.scope != "shared":
            item["scope"] = e.scope
        entities.append(item)
    mentions = []
    for m in record.mentions:
        item = {"start": m.start, "end": m.end, "text": m.text, "kind": m.kind}
        if m.entity:
            entity = record.entities[m.entity]
            item.update(entity=m.entity, type=entity.type, wikidata=entity.wikidata)
        for name in ("title", "affiliation", "value"):
            if getattr(m, name) is not None:
                item[name] = getattr(m, name)
        if m.metonymy:
            item["metonymy"] = True
        if m.date is not None:
            item["date"] = date_to_json(m.date)
        mentions.append(item)
    events = []
    for ev in record.events:
        item = {
            "id": ev.id, "type": ev.type,
            "trigger": {"start": ev.trigger.start, "end": ev.trigger.end,
                        "text": ev.trigger.text},
            "participants": [
                {"role": p.role, "entity": p.entity,
                 **({"mention": p.mention} if p.mention is not None else {})}
                for p in ev.participants],
            "confidence": ev.confidence, "modality": ev.modality,
            "background": ev.background,
        }
        if ev.place:
            item["place"] = ev.place
        if ev.date is not None:
            item["date"] = date_to_json(ev.date)
        if ev.reported_by:
            item["reported_by"] = ev.reported_by
        if ev.quantities:
            item["quantities"] = [
                {"kind": q.kind, "value": q.value, "qualifier": q.qualifier,
                 **({"counts": q.counts} if q.counts else {}),
                 **({"mention": q.mention} if q.mention is not None else {})}
                for q in ev.quantities]
        events.append(item)
    return {
        "format": "newsgraph-record/1",
        "extractor": {"name": record.extractor_name, "version": record.extractor_version},
        "article": article, "entities": entities, "mentions": mentions, "events": events,
    }
