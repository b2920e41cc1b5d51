"""Request and response bodies (``XCreate`` / ``XPublic`` / ``XList``), one module per
resource; ``api.schemas.common`` holds the types they share (ids, amounts, hashes, UTC
instants)."""
