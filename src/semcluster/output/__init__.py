"""What a reader sees: diagrams, the report, Word manuscripts, and safe file writing."""
