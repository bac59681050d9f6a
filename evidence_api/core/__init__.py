"""What every feature shares: settings, database, auth, errors, storage, keys, the
request guard, the problem schema, observability. Imports no feature package."""
