"""Blue/green rebuilds: a new copy of a read model folded from position 0 beside the
live one, switched to once caught up. `progress` is what a rebuild reports, `copies`
folds a copy until it has caught up; a copy's number (its generation) is recorded per
backend: `sqlite` for sync read models inside the SQLite write database, `postgres`
for the services profile's registry that workers and API processes share."""
