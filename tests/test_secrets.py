"""Secrets stay secret: not in the documents the API serves, nor in the settings' repr."""

import pytest

from tests.support.settings import SETTINGS, settings_with

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["/openapi.json", "/asyncapi.json", "/asyncapi"])
async def test_no_secret_is_in_the_documents(client, path):
    text = (await client.get(path)).text
    for secret in (
        SETTINGS.taskgate_secret.get_secret_value(),
        SETTINGS.rmq_password.get_secret_value(),
    ):
        assert secret not in text, path


def test_the_settings_never_show_their_secrets():
    settings = settings_with(db_pass="db-pass-0123", rmq_password="rmq-pass-0123")
    shown = repr(settings) + str(settings.model_dump())
    for secret in ("db-pass-0123", "rmq-pass-0123", SETTINGS.taskgate_secret.get_secret_value()):
        assert secret not in shown


def test_the_amqp_url_escapes_user_and_password():
    settings = settings_with(rmq_user="a@b", rmq_password="p/w:@#")
    assert settings.amqp_url.startswith("amqp://a%40b:p%2Fw%3A%40%23@")
