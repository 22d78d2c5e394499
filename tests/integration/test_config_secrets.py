"""Settings whose secrets are named by ARN come from Secrets Manager (moto's server)."""

from __future__ import annotations

from job_scheduler.config import Settings

TOKEN = "123456789:AAH-fake-token-value-0123456789abcdefXYZ"


def test_secrets_named_by_arn_are_read_from_secrets_manager(aws):
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1")
    db_arn = client.create_secret(Name="db", SecretString="postgresql://a:b@h/d")["ARN"]
    token_arn = client.create_secret(Name="tok", SecretString=TOKEN)["ARN"]

    settings = Settings.from_env(
        {
            "AWS_ENDPOINT_URL": aws,
            "DATABASE_URL_SECRET_ARN": db_arn,
            "TELEGRAM_BOT_TOKEN_SECRET_ARN": token_arn,
        }
    )

    assert (settings.database_url, settings.telegram_bot_token) == ("postgresql://a:b@h/d", TOKEN)
