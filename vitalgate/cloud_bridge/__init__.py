"""The wire: MQTT topics and payloads, the publisher, the ingest worker, FHIR export.

This package knows no Bluetooth.
"""
