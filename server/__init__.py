"""newsgraph server: the store, the Flask app (SPARQL endpoint, dumps) and the CLI."""
