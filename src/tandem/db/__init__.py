"""Database connections the toolkit's backends share: one module per database."""
