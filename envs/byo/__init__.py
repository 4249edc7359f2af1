"""Bring your own env: the worked example of docs/byo_env.md (``envs.byo.example``)."""
