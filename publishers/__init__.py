"""The broker, its topology, the message contracts and the publishers."""
