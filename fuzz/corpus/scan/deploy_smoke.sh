#!/bin/sh
# Smoke test after a deploy.
curl -fsS -H "Authorization: Bearer $SMOKE_TOKEN" https://api.acme.dev/health
curl -fsS -H "Authorization: Bearer 7Hq2nV9xKc4LmP8wRt3ZbJ6yFd1sGe5A" https://api.acme.dev/v1/jobs
