"""The notifier: turns events into customer e-mails through SendGrid (built with the
warehouse-exceptions and notifications issue). It depends on `contracts` and its own ports only."""
