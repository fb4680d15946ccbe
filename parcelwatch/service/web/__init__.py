"""The lookup API and the agents' page, served by each worker (`--web-port`)."""
