"""The one result type, its builder and printer, and what every result can do (the protocol)."""
