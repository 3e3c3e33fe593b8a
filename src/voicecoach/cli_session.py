"""Subcommands (placeholder until this stage lands)."""


def register(sub, bench_sub) -> None:
    pass
