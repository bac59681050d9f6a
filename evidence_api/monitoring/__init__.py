"""Monitoring and early warning (监测预警): monitors, runs, rules, alerts, statistics."""
