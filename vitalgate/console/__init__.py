"""The care console: a web page for community health managers, doctors and hut staff."""
