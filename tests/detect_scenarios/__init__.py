"""Labelled detection scenarios: realistic records (through ``store.ingest``) for worlds with and
without migrations. :mod:`.builder` makes the records, :mod:`.cases` the labelled set."""
