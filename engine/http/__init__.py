"""Stage 3, the one request path: every request of a walk, shrink, replay, pre-flight or clean-up goes through here.

``client`` sends (allowed hosts, tags, safe retries, timeouts) and records;
``provenance`` marks the values a response carried so later requests can say
where theirs came from.
"""
