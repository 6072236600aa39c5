"""The model specification: lavaan syntax read into one parameter table, and semopy in and out."""
