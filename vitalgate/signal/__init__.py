"""Pure signal processing: ECG filtering, QRS detection, rhythm screening, vitals rules.

Arrays and records in, results out. Imports nothing from gateway, cloud_bridge or device_drivers.
"""
