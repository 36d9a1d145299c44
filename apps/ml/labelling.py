"""Forwarding import for apps/cameras/services.py, which still imports the labelling queue
from here; the queue lives in apps/labelling. Delete this file once that import is changed."""

from apps.labelling.services import labelling_flag_frames

__all__ = ["labelling_flag_frames"]
