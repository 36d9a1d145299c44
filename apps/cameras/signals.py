"""What frame processing tells the apps above it, without importing them."""

from django.dispatch import Signal

# Sent after a batch's detections are stored, before rules run (kwargs: `seen`, a list of
# (frame, detections) pairs); apps/labelling queues the frames the classifier was unsure of.
# Receivers must not raise into the inference path.
frames_inferred = Signal()
