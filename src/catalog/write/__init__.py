"""The write side: normalized tables, repositories and one handler per command."""
