"""Template helpers of the ML pages."""
