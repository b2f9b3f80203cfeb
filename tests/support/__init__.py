"""Test helpers that start and seed real external systems (e.g. a Tryton server)."""
