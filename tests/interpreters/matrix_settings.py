"""pytest plugin of the interpreter matrix (`-p matrix_settings`): fewer hypothesis examples
per property than the suite's own run, which keeps the default 100; eight interpreters share
CI's budget."""

from hypothesis import settings

settings.register_profile("matrix", max_examples=20, deadline=None)
settings.load_profile("matrix")
