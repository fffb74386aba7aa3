"""Where the project's RDF resources (ontology/, shapes/) live.

They are data of the distribution, kept at the top level as the design card asks; a wheel
carries them inside ``mapper/`` (see pyproject), a checkout has them next to the package.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resource_dir(name: str) -> Path:
    bundled = _PACKAGE / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


ONTOLOGY_DIR = _resource_dir("ontology")
SHAPES_DIR = _resource_dir("shapes")
