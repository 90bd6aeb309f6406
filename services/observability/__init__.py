"""What the API and the workers share to be observed: the correlation of log lines and
their format, the propagation of trace context, and the metrics both sides count."""
