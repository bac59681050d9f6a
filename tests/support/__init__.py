"""Shared test support: throwaway real services and sample data builders."""
