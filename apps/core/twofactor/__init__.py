"""Two-factor sign-in: an authenticator app (TOTP) plus ten single-use recovery codes, on
django-otp. `policy` decides who owes a second step, `services` does every write (each
audited), `middleware` holds signed-in users at enrolment or verification, `views` are
the pages."""
