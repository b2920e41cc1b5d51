"""Business services of the API: they hold the rules routes must not."""
