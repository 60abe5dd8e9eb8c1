from shared.db.alembic_env import run_migrations
from tweets.models import Base

run_migrations(Base.metadata)
