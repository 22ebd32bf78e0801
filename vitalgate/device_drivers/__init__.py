"""GATT codecs, per-profile drivers and the connection manager (on bleak)."""
