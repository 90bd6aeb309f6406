"""`taskgate`, the command line: keys (straight to the database), and later the API's."""
