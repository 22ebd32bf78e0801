"""Emulated BLE health devices on bumble, for tests and the demo."""
