"""TOML profiles of real device models and their pydantic loader."""
