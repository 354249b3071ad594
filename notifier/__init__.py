"""The notifier: turns OrderCare's events into customer e-mails through SendGrid.

Pure: `kinds` (event type -> kind, template data, skip reasons), `templates` (locale
fallback), `render` (plain text), `retry` (what to do after a send). The port `mail`, its
SendGrid adapter `sendgrid_mailer`, the port `store` (the dedupe record; its SQL adapter is
persistence/notifications.py, given by `ordercare notifier`), the pika `consumer`, the
`sender` loop, and `main`. It depends on `contracts` and its own ports only.
"""
