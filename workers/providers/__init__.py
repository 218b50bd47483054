"""One adapter per provider API, behind the `Provider` interface of `base`."""
