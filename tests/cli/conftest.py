"""The command-line tests: each runs ``linecode`` as a user would, over real data dirs. The store
fixtures (a store with a line's product and batch) are the store tests' own."""

from tests.store.conftest import line, store  # noqa: F401  (fixtures)
