"""Three cache layers (process memory, Redis, PostgreSQL) that are never older than the last
write: keys carry their owner, every write invalidates its owners' keys in every layer and
every worker before it answers, and TTLs are only the safety net."""
