"""The DuckDB store of normalised records and how data get into it."""
