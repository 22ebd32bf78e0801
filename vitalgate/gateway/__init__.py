"""The daemon: wiring, residents and kits, the alert lifecycle, the store-and-forward outbox."""
