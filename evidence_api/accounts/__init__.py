"""Console accounts: people (Argon2 passwords, optional TOTP, lockout), their sessions,
and the audit log of logins and token use. See docs/accounts.md."""
