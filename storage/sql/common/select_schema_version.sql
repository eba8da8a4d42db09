SELECT MAX(version) FROM schema_version
