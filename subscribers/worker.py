"""The worker app: `faststream run subscribers.worker:app [--workers N]`."""

from faststream import FastStream

from app.handlers.loader import load_handlers
from db.session import engine
from publishers.broker import broker
from subscribers.specification import asyncapi

app = FastStream(broker, specification=asyncapi)


@app.on_startup
def load_task_handlers() -> None:
    load_handlers()


@app.after_shutdown
async def close_database() -> None:
    await engine.dispose()
