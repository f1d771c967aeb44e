"""Storage: the database and its models, Redis connection, locks, shops, activity, secrets at rest."""
