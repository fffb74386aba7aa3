"""newsgraph mapper: articles and their extracted records -> validated RDF graphs.

Stages (each a plain function, composed by :mod:`mapper.pipeline`):
read (:mod:`mapper.records`) -> map (:mod:`mapper.mapping`) -> validate (:mod:`mapper.validation`).
"""

__version__ = "0.1.0"
