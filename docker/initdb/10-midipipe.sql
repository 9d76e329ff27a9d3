-- Runs once, in $POSTGRES_DB, when the container initialises an empty data directory.
CREATE EXTENSION IF NOT EXISTS midipipe;
