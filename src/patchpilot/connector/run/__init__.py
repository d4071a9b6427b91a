"""One run on one target: `run_target` (runner.py) prepares the target (prepare.py), claims
its lock, runs the rounds (round_loop.py: launch, stream.py, reboot.py, stability.py;
prescan.py plans the later ones) inside the operator's change (change.py: hooks.py,
health.py), and sums the stored rounds into the run's result (summary.py). context.py holds
what every step shares.
"""
