"""Where a stack runs: native (plain processes, the default) and fake (nothing runs; for engine tests).
Compose and Kubernetes renderers come next; they implement the contract in base.py."""
