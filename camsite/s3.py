"""The STORAGES entry of the captures' bucket (django-storages' S3Storage), from the S3_* settings: one builder
for camsite.settings and for the tests that point it at their own S3 server."""

from __future__ import annotations


def s3_storage(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "us-east-1",
    access_key: str = "",
    secret_key: str = "",
    prefix: str = "",
    addressing_style: str = "path",
) -> dict:
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            # None: boto3's own chain (AWS_* variables, an instance role).
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "location": prefix,
            "addressing_style": addressing_style,
            "signature_version": "s3v4",
            "file_overwrite": True,  # keys are <host>/<name>, unique per host: never renamed by the storage
            # Fail fast and let the job queue retry: a Pi's worker must not hang on a bucket that is away.
            "client_config": Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
            ),
        },
    }
