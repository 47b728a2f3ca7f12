"""Blue/green rebuilds: a new copy of a read model folded from position 0 beside the
live one, switched to once caught up. A rebuild builds a *copy*; copies are numbered,
the number being the copy's *generation*.

- `steps`: the steps every rebuild takes (create, catch up, switch, announce, retire;
  discard on failure) and `run`, which takes a rebuild through them;
- `progress`: what a rebuild reports (`Rebuild`);
- `runners`: a copy folded by a projection runner of its own;
- `sqlite`: a `sync` read model's copy, tables in the SQLite write database;
- `postgres`: the services profile's registry of copies, shared by workers and API
  processes, which take the same steps across processes.
"""
