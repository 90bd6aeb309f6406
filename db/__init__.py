"""Task storage: models, engine and sessions, migrations."""
