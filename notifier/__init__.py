"""The notifier: turns OrderCare's events into customer e-mails through SendGrid.

Pure: `kinds` (event type -> kind, template data, skip reasons), `templates` (locale
fallback), `render` (plain text), `retry` (what to do after a send). The port `mail`, its
SendGrid adapter `sendgrid_mailer`, the SQL `store` (the dedupe record), the pika
`consumer`, the `sender` loop, and `main` (`ordercare notifier`). It depends on
`contracts` and its own ports only.
"""
