"""What the registry tells the apps above it, without importing them."""

from django.dispatch import Signal

# Sent after an operator's verdict was filed as a sample (kwargs: `sample`), inside the
# verdict's transaction; apps/labelling queues disagreeing verdicts from it.
verdict_sample_filed = Signal()
