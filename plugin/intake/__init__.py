"""The door: a verified delivery in, an outcome out: route by topic, guards, dedupe, one atomic enqueue."""
