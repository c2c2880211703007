"""Everything between bytes and the engine: tokenize, decode, redact, batch, serve, stream."""
