"""Side effects of trips: mail, CRM reads and the trip log. Workflows see only `contracts`."""
