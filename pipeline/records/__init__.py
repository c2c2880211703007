"""Records are the user's: the record view between the codec and ``NerService``.

    paths.py        the field path grammar (``comments[*].text``) and matching
    formats.py      bytes <-> record tree, written back in the input's own format (JSON, text,
                    Avro with the producer's writer schema)
    view.py         record -> one document (scanned fields joined), redaction per field,
                    in-place write-back; the entity items with ``field``
    policies.py     whole-field operators (``--field-policy customer.email=hash``)
    avro_paths.py   what an Avro schema allows at a path (start-up checks)
    settings.py     ``RecordSettings`` (--text-fields, --id-field, --redacted-mode, ...)
    build.py        the view from settings
    errors.py       record errors naming the path, never the value
"""
