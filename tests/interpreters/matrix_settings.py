"""pytest plugin of the interpreter matrix (`-p matrix_settings`): fewer hypothesis examples
per property than the suite's own run, which keeps the default 100, and no "generation too
slow" health check: eight interpreters share CI's two cores, so slowness there measures the
load, not the strategy."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "matrix", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("matrix")
